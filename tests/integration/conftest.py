"""End-to-end fixtures: a clean Redis per test, and real ``dramatiq`` worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from tests.support.worker import WorkerProcess


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
