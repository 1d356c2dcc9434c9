"""Broadcasts through a real worker: to all 10,000 users an application's source yields, read
lazily in the worker, and to an iterable the caller passes; every user gets exactly one."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from mailer import settings
from mailer.settings import Settings
from mailer.stores import keys, redis_client
from tests.support.users import COUNT_VARIABLE
from tests.support.worker import WorkerProcess, wait_until

pytestmark = pytest.mark.integration

USERS = 10_000
ENV = {
    "MAILER_SECRET_KEY": "integration secret key for broadcast tests",
    "MAILER_USERS_SOURCE": "tests.support.users:all_user_ids",
    COUNT_VARIABLE: str(USERS),
}


@pytest.fixture
def worker(start_worker: Callable[..., WorkerProcess]) -> WorkerProcess:
    """The stock worker command, with the users source in its environment."""
    return start_worker(ENV, threads=4)


@pytest.fixture
def broadcast_settings() -> Iterator[Settings]:
    configured = Settings.from_env({**os.environ, **ENV})
    settings.configure(configured)
    yield configured
    settings.configure(None)


def counts(user_ids: list[str]) -> list[int]:
    """How many notifications each user has, in one round trip."""
    with redis_client(settings.current().redis_url).pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.xlen(keys.key("notifications", user_id))
        return [int(count) for count in pipe.execute()]


def everyone_notified(user_ids: list[str]) -> Callable[[], bool]:
    return lambda: sum(counts(user_ids)) >= len(user_ids)


def test_a_broadcast_reaches_every_user_of_the_source_exactly_once(
    broadcast_settings: Settings, worker: WorkerProcess
):
    from mailer.api import inbox

    user_ids = [f"user-{number}" for number in range(USERS)]

    inbox.broadcast("Scheduled maintenance", "Sunday 02:00 UTC", url="/status")

    assert wait_until(everyone_notified(user_ids), timeout_s=60), worker.log()
    time.sleep(1.0)  # a batch run twice would land right behind the others
    assert set(counts(user_ids)) == {1}, worker.log()
    [notification] = inbox.notifications("user-9999").items
    assert (notification.title, notification.url, notification.kind) == (
        "Scheduled maintenance",
        "/status",
        "broadcast",
    )


def test_a_broadcast_to_the_users_given_reaches_each_once(
    broadcast_settings: Settings, worker: WorkerProcess
):
    from mailer.api import inbox

    user_ids = [f"member-{number}" for number in range(2_500)]

    inbox.broadcast("Your team has a new plan", users=(user_id for user_id in user_ids))

    assert wait_until(everyone_notified(user_ids), timeout_s=60), worker.log()
    time.sleep(1.0)
    assert set(counts(user_ids)) == {1}, worker.log()
    assert counts(["user-0"]) == [0]
