"""Unit fixtures in dramatiq's style: a StubBroker carrying mailer's middleware and actors,
a worker on it, and the memory backend as the configured one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from mailer import settings
from mailer.backends import memory
from mailer.settings import Settings
from tests.support.brokers import stub_broker as new_stub_broker
from tests.support.brokers import swap_broker


@pytest.fixture
def mailer_settings(tmp_path: object) -> Iterator[Settings]:
    # The suite's own Redis: receipts, claims and rate-limit slots live there.
    configured = Settings(
        redis_url=os.environ["REDIS_URL"],
        backend="memory",
        from_email="Shop <shop@example.com>",
        public_url=os.environ["MAILER_PUBLIC_URL"],
        secret_key=os.environ["MAILER_SECRET_KEY"],
    )
    settings.configure(configured)
    memory.reset()
    yield configured
    settings.configure(None)
    memory.reset()


@pytest.fixture
def stub_broker(mailer_settings: Settings) -> Iterator[StubBroker]:
    broker = new_stub_broker()
    broker.emit_after("process_boot")
    previous = swap_broker(broker)
    yield broker
    broker.flush_all()
    swap_broker(previous)


@pytest.fixture
def stub_worker(stub_broker: StubBroker) -> Iterator[Worker]:
    worker = Worker(stub_broker, worker_timeout=100, worker_threads=2)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries back off 10-50 ms, so a test that waits for them takes no time."""
    for actor in dramatiq.get_broker().actors.values():
        monkeypatch.setitem(actor.options, "min_backoff", 10)
        monkeypatch.setitem(actor.options, "max_backoff", 50)
