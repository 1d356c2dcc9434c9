"""End-to-end fixtures: a clean Redis per test, real ``dramatiq`` worker processes, and one
headless browser for the whole session (Playwright's sync API allows one per thread, so the
fixture lives here, not imported into each module that uses it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from tests.support.browser import browser
from tests.support.worker import WorkerProcess

__all__ = ["browser"]


@pytest.fixture(autouse=True)
def clean_redis(redis_url: str) -> Iterator[None]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    yield


@pytest.fixture
def start_worker() -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``dramatiq mailer.actors`` with extra environment; stopped after the test."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], **options: object) -> WorkerProcess:
        worker = WorkerProcess(env, **options)  # type: ignore[arg-type]
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
