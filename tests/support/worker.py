"""Real ``dramatiq mailer.actors`` worker processes for end-to-end tests.

The worker is the stock command users run, started with the environment a test gives it;
``tests.support.fast_retries`` is loaded beside mailer's actors only to shorten retry backoff
so a test that waits for retries finishes in seconds instead of minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "is ready for action"


class LoggedProcess:
    """A command run with the test's environment, its output kept, ready once ``ready_line``
    has been printed ``ready_count`` times; shared by worker and scheduler processes."""

    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        *,
        name: str,
        ready_line: str,
        ready_count: int = 1,
    ) -> None:
        self.name = name
        self.output: list[str] = []
        self._ready = threading.Event()
        self._ready_line, self._ready_count, self._seen = ready_line, ready_count, 0
        self.process = subprocess.Popen(
            command,
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
            if self._ready_line in line:
                self._seen += 1
                if self._seen >= self._ready_count:
                    self._ready.set()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        if not self._ready.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n" + self.log())

    def log(self) -> str:
        return "".join(self.output)

    def stop(self, timeout_s: float = 20.0) -> int:
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


class WorkerProcess(LoggedProcess):
    def __init__(
        self,
        env: Mapping[str, str],
        *,
        threads: int = 2,
        processes: int = 1,
        fast_retries: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        modules = ["mailer.actors"] + (["tests.support.fast_retries"] if fast_retries else [])
        command = [
            sys.executable,
            "-m",
            "dramatiq",
            *modules,
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            *extra_args,
        ]
        super().__init__(command, env, name="worker", ready_line=READY_LINE, ready_count=processes)

    def kill(self) -> None:
        """SIGKILL the worker processes, then their parent: a host dying, nothing cleaned up.

        Killing only the parent would leave its worker process running, orphaned, still
        sending; each child is found through /proc before anything is killed.
        """
        children = _children(self.process.pid)
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        self.process.kill()
        self.process.wait()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def wait_until(predicate: object, timeout_s: float = 20.0, interval_s: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is truthy or the time is up; returns its last verdict."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())
