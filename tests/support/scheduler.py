"""Real ``periodiq mailer.actors`` scheduler processes for end-to-end tests.

The scheduler is the stock console script a deployment runs beside its workers, started with
the environment a test gives it. Each one enqueues a tick as it starts (periodiq's first
pass sends every actor whose cron matches the current minute, which ``* * * * *`` always
does), then one at the top of every minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.worker import REPO_ROOT

# periodiq ships a console script only (no ``__main__``), installed beside the interpreter.
PERIODIQ = Path(sys.executable).with_name("periodiq")
# Logged once the actors are imported and the first tick is about to be sent.
READY_LINE = "Registered periodic actors"


class SchedulerProcess:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.output: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [str(PERIODIQ), "mailer.actors"],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if READY_LINE in line:
                self._ready.set()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        if not self._ready.wait(timeout_s):
            self.stop()
            raise RuntimeError("periodiq did not start:\n" + self.log())

    def log(self) -> str:
        return "".join(self.output)

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM: periodiq installs no handler for it, so it ends at once, as on a deploy."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


@pytest.fixture
def start_scheduler() -> Iterator[object]:
    """``start_scheduler(env)``: a running ``periodiq mailer.actors``, stopped after the test."""
    started: list[SchedulerProcess] = []

    def start(env: Mapping[str, str]) -> SchedulerProcess:
        scheduler = SchedulerProcess(env)
        started.append(scheduler)
        scheduler.wait_ready()
        return scheduler

    yield start
    for scheduler in started:
        scheduler.stop()
