"""A worker makes two Redis round trips per sent email, its ack included, besides the fetch.

One script begins the send (receipt check, claim, suppression, backend choice, rate-limit
slot, the log's ``sending``), one pipeline settles it (receipt, releases, the log's outcome,
counters, and Dramatiq's ack of the message). Any other outcome is acked by Dramatiq after
it, one round trip more. Counted on the client, on a real Redis, for the worker threads of a
Dramatiq ``Worker`` running mailer's actors on mailer's own broker, over enough emails to
average out a connection being opened or a script loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker

import mailer
import mailer.actors  # sets up mailer's broker and declares its actors)
from mailer import settings
from mailer.actors.emails import lookup
from mailer.backends import memory
from mailer.priorities import LEVELS
from mailer.settings import Settings
from tests.support.round_trips import RoundTrips, counting

pytestmark = pytest.mark.integration

EMAILS = 20
WARM_UP = 4
MAX_PER_EMAIL = 2
WELCOME = {"name": "Ann", "app_name": "Acme"}
NEW_POST = {"title": "Hello", "url": "https://example.com/p/1", "excerpt": "First post"}


def configure(**options: object) -> None:
    settings.configure(
        Settings(
            redis_url=os.environ["REDIS_URL"],
            backend="memory",
            from_email="Shop <shop@example.com>",
            public_url=os.environ["MAILER_PUBLIC_URL"],
            secret_key=os.environ["MAILER_SECRET_KEY"],
            stats_interval_s=3600.0,  # no stats line inside the count
            **options,  # type: ignore[arg-type]
        )
    )


@pytest.fixture
def broker() -> Iterator[RedisBroker]:
    memory.reset()
    broker = dramatiq.get_broker()  # mailer's own, on the suite's Redis (``mailer.actors``)
    assert isinstance(broker, RedisBroker)
    yield broker
    settings.configure(None)
    memory.reset()


@pytest.fixture
def worker(broker: RedisBroker) -> Iterator[Worker]:
    hooks = list(broker.middleware)
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()
    # The worker put a hook on the suite's broker that starts consumers for every queue declared
    # later, stopped worker or not: a test that declares an actor would start them for good.
    broker.middleware[:] = hooks


def drain(broker: RedisBroker, worker: Worker) -> None:
    """Until every message is processed and acked."""
    for level in LEVELS.values():
        broker.join(level.queue_name, timeout=30_000)
    worker.join()


def per_email(trips: RoundTrips) -> float:
    """Every round trip of the worker threads, Dramatiq's acks included."""
    return (trips.counts["mailer"] + trips.counts["dramatiq"]) / EMAILS


def send_counted(
    broker: RedisBroker, worker: Worker, monkeypatch: pytest.MonkeyPatch, template: str, context
) -> RoundTrips:
    with counting(monkeypatch, broker) as trips:
        for n in range(WARM_UP):  # connections opened, scripts loaded
            mailer.send_email(template, f"warm{n}@example.com", context)
        drain(broker, worker)
        trips.reset()
        for n in range(EMAILS):
            mailer.send_email(template, f"user{n}@example.com", context)
        drain(broker, worker)
    assert trips.counts["mailer"] >= EMAILS  # the count saw them
    assert (
        broker.client.hlen(f"{broker.namespace}:{lookup(template).priority.queue_name}.msgs") == 0
    )
    return trips


def test_a_plain_send_makes_two_round_trips(broker, worker, monkeypatch):
    configure()
    trips = send_counted(broker, worker, monkeypatch, "welcome", WELCOME)
    assert len(memory.sent()) == WARM_UP + EMAILS
    assert per_email(trips) <= MAX_PER_EMAIL, trips.commands
    assert trips.commands[b"dispatch ack"] == 0  # each went with its outcome


def test_a_rate_limited_send_granted_at_once_makes_two_round_trips(broker, worker, monkeypatch):
    configure(rate_limit=100_000)
    trips = send_counted(broker, worker, monkeypatch, "welcome", WELCOME)
    assert len(memory.sent()) == WARM_UP + EMAILS
    assert per_email(trips) <= MAX_PER_EMAIL, trips.commands


def test_a_send_to_a_suppressed_recipient_makes_two_round_trips(broker, worker, monkeypatch):
    configure()
    for n in range(WARM_UP):
        mailer.suppress(f"warm{n}@example.com")
    for n in range(EMAILS):
        mailer.suppress(f"user{n}@example.com")
    trips = send_counted(broker, worker, monkeypatch, "new_post", NEW_POST)
    assert memory.sent() == []
    assert {d.status for d in mailer.search_deliveries(status="suppressed", limit=100)} == {
        "suppressed"
    }
    assert len(mailer.search_deliveries(status="suppressed", limit=100)) == WARM_UP + EMAILS
    assert per_email(trips) <= MAX_PER_EMAIL + 1, trips.commands  # acked by Dramatiq after
