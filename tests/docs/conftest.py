"""What every documentation snippet runs in: the environment an app would give mailer.

A snippet reads as an app's own code, so nothing here is visible in it: the settings come as
an app's environment would set them (the memory backend, the suite's Redis), the broker is a
StubBroker with mailer's whole middleware stack, and a worker on it runs what the snippet
queued. After the snippet, every queue is joined and a message that failed in the worker (a
template the context does not fill, a subscriber that raises) fails the snippet's test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import join_queue

from mailer import settings
from mailer.backends import memory
from mailer.priorities import LEVELS
from mailer.settings import Settings
from tests.support.brokers import stub_broker, swap_broker
from tests.support.subscribers import own_subscribers

# A ready queue still busy after this holds a message the worker cannot finish.
JOIN_TIMEOUT_S = 10.0


def app_settings() -> Settings:
    """What an app's environment would set: the memory backend, a sender, the secret and the
    public URL unsubscribe links need, admins, and where the app's users come from."""
    return Settings(
        redis_url=os.environ["REDIS_URL"],
        backend="memory",
        from_email="Example <hello@example.com>",
        secret_key="docs-snippets-secret-key-0123456789abcdef",
        public_url="https://mailer.example.com",
        admin_users=("1", "7"),
        users_source="tests.docs.app_users:all_user_ids",
        newsletter_source="tests.docs.app_users:newsletter_subscribers",
    )


@pytest.fixture
def app_environment(redis_url: str) -> Iterator[Settings]:
    """The suite's Redis, emptied before and after, under an app's settings."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    configured = app_settings()
    configured.check()
    settings.configure(configured)
    memory.reset()
    yield configured
    settings.configure(None)
    memory.reset()
    client.flushdb()
    client.close()


@pytest.fixture
def app_subscribers() -> Iterator[None]:
    """A snippet's ``@subscribe`` handlers are forgotten after it, actors included."""
    with own_subscribers():
        yield


class Failures(dramatiq.Middleware):
    """Every exception an actor raised, retried or not: a retry would hide it for minutes."""

    def __init__(self) -> None:
        self.raised: list[BaseException] = []

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message[object],
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None:
            self.raised.append(exception)


@pytest.fixture
def app_worker(app_environment: Settings) -> Iterator[StubBroker]:
    """A StubBroker made the global broker, with a worker running on it."""
    broker = stub_broker()
    broker.add_middleware(Failures())
    broker.emit_after("process_boot")
    previous = swap_broker(broker)
    worker = Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    yield broker
    worker.stop()
    broker.flush_all()
    swap_broker(previous)


def settle(broker: StubBroker) -> None:
    """Wait for what a snippet queued; an actor that raised raises here.

    Only the ready queues are joined: a delayed message (``send_at`` ahead) is not waited for.
    Twice, since a message an actor sends (an event's email, a broadcast's batch) lands after
    its queue was joined.
    """
    failures = next(m for m in broker.middleware if isinstance(m, Failures))
    for _ in range(2):
        for level in LEVELS.values():
            join_queue(broker.queues[level.queue_name], timeout=JOIN_TIMEOUT_S)
            if failures.raised:
                raise failures.raised[0]
