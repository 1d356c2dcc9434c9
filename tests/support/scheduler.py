"""Real ``periodiq mailer.actors`` scheduler processes for end-to-end tests.

The scheduler is the stock console script a deployment runs beside its workers, started with
the environment a test gives it. Each one enqueues a tick as it starts (periodiq's first
pass sends every actor whose cron matches the current minute, which ``* * * * *`` always
does), then one at the top of every minute.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.worker import LoggedProcess

# periodiq ships a console script only (no ``__main__``), installed beside the interpreter.
PERIODIQ = Path(sys.executable).with_name("periodiq")
# Logged once the actors are imported and the first tick is about to be sent.
READY_LINE = "Registered periodic actors"


class SchedulerProcess(LoggedProcess):
    def __init__(self, env: Mapping[str, str]) -> None:
        command = [str(PERIODIQ), "mailer.actors"]
        super().__init__(command, env, name="periodiq", ready_line=READY_LINE)

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM: periodiq installs no handler for it, so it ends at once, as on a deploy."""
        return super().stop(timeout_s)


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
