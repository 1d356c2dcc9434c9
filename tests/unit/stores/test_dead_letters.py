"""Dead letters on a real Redis broker: read newest first, filtered, requeued and purged once.

Letters are made the way Dramatiq makes them: ``kill`` runs a message through the broker's own
enqueue, fetch and nack; ``bury`` writes what a nack leaves behind, at a chosen time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import q_name

from mailer import stores
from mailer.actors.emails import EMAIL_TYPES, lookup
from mailer.broker import build
from mailer.envelope import Email
from mailer.settings import Settings
from mailer.stores.dead_letters import PAGE, DeadLetters
from mailer.stores.delivery_log import Attempt, DeliveryLog

NOW = time.time()
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "mailer/delivery.py", line 80, in _send\n'
    "mailer.errors.TransientSendError: smtp 451: 4.3.0 Try again later\n"
)


@pytest.fixture
def broker(mailer_settings: Settings, redis_url: str) -> Iterator[RedisBroker]:
    redis.Redis.from_url(redis_url).flushdb()
    broker = build(mailer_settings, on_boot=lambda: None)
    for declared in EMAIL_TYPES.values():  # so that an enqueue is logged, as in production
        broker.declare_actor(declared.actor)
    yield broker
    broker.client.connection_pool.disconnect()  # the broker's own close leaves it


@pytest.fixture
def dead(broker: RedisBroker, log: DeliveryLog) -> DeadLetters:
    return DeadLetters(broker, log=log)


@pytest.fixture
def log(mailer_settings: Settings) -> DeliveryLog:
    return stores.for_settings(mailer_settings).delivery_log


def email(template: str = "welcome", to: str = "ann@example.com", **options: Any) -> Any:
    envelope = Email(to=[to], from_email="").to_json()
    actor = lookup(template).actor
    return actor.message_with_options(args=(envelope, {"name": "Ann"}), **options)


def kill(broker: RedisBroker, message: dramatiq.Message[Any]) -> None:
    """Dead-letter ``message`` as a worker does: enqueued, fetched, then nacked."""
    enqueued = broker.enqueue(message)
    broker.do_fetch(message.queue_name, 1)
    broker.do_nack(message.queue_name, enqueued.options["redis_message_id"])


def bury(broker: RedisBroker, message: dramatiq.Message[Any], dead_at: float) -> str:
    """Write what a nack leaves, as if it happened at ``dead_at``; returns the message id."""
    member = str(uuid.uuid4())
    stored = message.copy(options={"redis_message_id": member})
    xq = f"dramatiq:{q_name(message.queue_name)}.XQ"
    broker.client.zadd(xq, {member: int(dead_at * 1000)})
    broker.client.hset(xq + ".msgs", member, stored.encode())
    return str(message.message_id)


def died(log: DeliveryLog, message: dramatiq.Message[Any], error: str) -> None:
    """The delivery log's record of a message whose last attempt failed with ``error``."""
    log.requeued(message)
    attempt = Attempt(time.time(), "failed", "smtp", error=error)
    log.settled(message.message_id, "welcome", "dead", attempt)


def queued(broker: RedisBroker, queue_name: str) -> list[dramatiq.Message[Any]]:
    bodies = broker.client.hvals(f"dramatiq:{queue_name}.msgs")
    return [dramatiq.Message.decode(body) for body in bodies]


# --- reading ---------------------------------------------------------------------------------


def test_a_letter_a_worker_dead_lettered_reads_as_the_email_it_was(broker, dead):
    message = email(to="Ann <Ann@example.com>", retries=3)
    kill(broker, message)

    [letter] = dead.list()
    assert (letter.message_id, letter.queue_name, letter.template) == (
        message.message_id,
        "mailer_high",
        "welcome",
    )
    assert letter.to == ["Ann <Ann@example.com>"]
    assert letter.retries == 3
    assert letter.error is None  # no failed attempt was logged, no traceback kept
    assert NOW - 1 < letter.dead_at < time.time() + 1
    assert letter.message.args == message.args
    assert dead.get(message.message_id) == letter
    assert dead.get("no-such-id") is None
    assert dead.count() == 1


def test_letters_come_newest_first_across_queues(broker, dead):
    oldest = bury(broker, email("welcome"), NOW - 300)  # high
    newest = bury(broker, email("password_reset"), NOW - 10)  # critical
    middle = bury(broker, email("new_post"), NOW - 100)  # low
    assert [letter.message_id for letter in dead.list()] == [newest, middle, oldest]
    assert [letter.queue_name for letter in dead.list(limit=2)] == ["mailer_critical", "mailer_low"]


def test_filters_narrow_the_letters_down(broker, dead, log):
    ann = email("welcome", "Ann <ann@example.com>")
    bob = email("password_reset", "bob@example.com")
    bury(broker, ann, NOW - 20)
    bury(broker, bob, NOW - 10)
    died(log, ann, "smtp 550: 5.1.1 Mailbox unavailable")
    died(log, bob, "smtp 554: 5.7.1 Rejected as spam")

    def ids(**criteria: Any) -> list[str]:
        return [letter.message_id for letter in dead.list(**criteria)]

    assert ids(queue="critical") == ids(queue="mailer_critical") == [bob.message_id]
    assert ids(template="welcome") == [ann.message_id]
    assert ids(to="ANN@example.com") == [ann.message_id]
    assert ids(error="mailbox UNAVAILABLE") == [ann.message_id]
    assert ids(error="5.") == [bob.message_id, ann.message_id]
    assert ids(error="5.", limit=1) == [bob.message_id]
    assert ids(template="welcome", to="bob@example.com") == []
    assert ids(queue="no_such_queue") == []


def test_the_error_is_the_delivery_logs_else_the_tracebacks_last_line(broker, dead, log):
    logged = email(traceback=TRACEBACK)
    unlogged = email(traceback=TRACEBACK)
    bare = email()
    for n, message in enumerate((logged, unlogged, bare)):
        bury(broker, message, NOW - n)
    died(log, logged, "smtp 550: 5.1.1 Mailbox unavailable")

    errors = {letter.message_id: letter.error for letter in dead.list()}
    assert errors == {
        logged.message_id: "smtp 550: 5.1.1 Mailbox unavailable",
        unlogged.message_id: "mailer.errors.TransientSendError: smtp 451: 4.3.0 Try again later",
        bare.message_id: None,
    }


def test_a_long_queue_is_read_a_page_at_a_time(broker, dead):
    total = 2 * PAGE + 50
    with broker.client.pipeline(transaction=False) as pipe:
        for n in range(total):
            message = email(to=f"user{n}@example.com")
            member = str(uuid.uuid4())
            stored = message.copy(options={"redis_message_id": member})
            pipe.zadd("dramatiq:mailer_high.XQ", {member: int((NOW - total + n) * 1000)})
            pipe.hset("dramatiq:mailer_high.XQ.msgs", member, stored.encode())
        pipe.execute()

    everything = dead.list(limit=None)
    assert len(everything) == total == dead.count()
    assert [letter.to for letter in everything[:2]] == [
        [f"user{total - 1}@example.com"],
        [f"user{total - 2}@example.com"],
    ]
    assert dead.list(limit=3) == everything[:3]
    oldest = everything[-1]
    assert oldest.to == ["user0@example.com"]
    assert dead.get(oldest.message_id) == oldest


# --- acting ----------------------------------------------------------------------------------


def test_a_requeued_letter_is_the_same_email_from_the_start(broker, dead, log):
    message = email(retries=8, traceback=TRACEBACK, requeue_timestamp=1, deferrals=2)
    bury(broker, message, NOW)
    died(log, message, "smtp 451: 4.3.0 Try again later")

    assert dead.requeue(dead.list()) == 1
    assert dead.list() == []
    [again] = queued(broker, "mailer_high")
    assert (again.message_id, again.args) == (message.message_id, message.args)
    assert again.options["retries"] == 0
    assert not {"traceback", "requeue_timestamp", "deferrals", "eta"} & set(again.options)
    assert log.get(message.message_id).status == "queued"
    # The requeue is in the message's history, after the attempt that killed it.
    assert [a.outcome for a in log.get(message.message_id).attempts][-1] == "requeued"


def test_a_letter_that_died_on_the_delay_queue_goes_back_on_its_own_queue_now(broker, dead):
    message = email().copy(queue_name="mailer_high.DQ", options={"eta": int(NOW * 1000)})
    bury(broker, message, NOW)

    assert dead.requeue(dead.list()) == 1
    [again] = queued(broker, "mailer_high")
    assert again.queue_name == "mailer_high"
    assert "eta" not in again.options
    assert queued(broker, "mailer_high.DQ") == []


def test_a_letter_is_requeued_once_however_many_ask_at_once(broker, log):
    bury(broker, email(), NOW)
    seen = DeadLetters(broker, log=log).list()  # each asker read the list before any of them acted
    start = threading.Barrier(8)
    results: list[int] = []

    def ask() -> None:
        start.wait()
        results.append(DeadLetters(broker, log=log).requeue(seen))

    askers = [threading.Thread(target=ask) for _ in range(8)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    assert sorted(results) == [0] * 7 + [1]
    assert len(queued(broker, "mailer_high")) == 1
    assert DeadLetters(broker, log=log).purge(seen) == 0  # gone: nothing left to purge


def test_a_purged_letter_is_gone_and_the_log_calls_the_email_failed(broker, dead, log):
    lost, sent_since = email(), email()
    for message in (lost, sent_since):
        bury(broker, message, NOW)
        died(log, message, "smtp 550: 5.1.1 Mailbox unavailable")
    # Another copy of the second one was requeued and went out before its old letter is purged.
    log.settled(sent_since.message_id, "welcome", "sent", Attempt(time.time(), "sent", "smtp"))

    assert dead.purge(dead.list()) == 2
    assert dead.list() == [] and dead.count() == 0
    assert queued(broker, "mailer_high") == []
    assert log.get(lost.message_id).status == "failed"
    assert log.get(sent_since.message_id).status == "sent"


def test_requeue_and_purge_of_nothing_do_nothing(dead):
    assert dead.list() == [] and dead.count() == 0
    assert dead.requeue([]) == dead.purge([]) == 0
