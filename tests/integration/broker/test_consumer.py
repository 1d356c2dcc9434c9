"""The broker's consumer on the suite's Redis: it blocks while its queue is empty and wakes as
soon as a message lands, whichever way the message was queued.

Every consumer here is given a 60 s timeout and every wait is asserted to end within 30 s:
a consumer that was not woken would sit out its timeout, so these assert what woke it, with
room to spare on a loaded machine, not how fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from queue import PriorityQueue
from typing import Any

import dramatiq
import pytest
import redis

import mailer.actors
from mailer.actors import emails
from mailer.broker.consumer import Consumer
from mailer.broker.redis_broker import RedisBroker
from mailer.envelope import Email
from mailer.priorities import LEVELS
from mailer.stores import queue_acks
from mailer.stores.batch_enqueue import enqueue_all
from mailer.stores.scripts import Batch
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

TIMEOUT_MS = 60_000
WOKEN_WITHIN_S = 30.0
CONTEXT = {"name": "Ann", "app_name": "Acme"}


@pytest.fixture
def broker() -> dramatiq.Broker:
    broker = dramatiq.get_broker()
    assert broker is mailer.actors.broker
    broker.stopping.clear()  # an in-process worker another test stopped leaves it set
    return broker


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def welcome(queue_name: str, n: int = 0) -> dramatiq.Message[Any]:
    envelope = Email(to=[f"user{n}@example.com"], from_email="", tags=["welcome"]).to_json()
    return emails.lookup("welcome").actor.message(envelope, CONTEXT).copy(queue_name=queue_name)


def in_thread(call: Callable[[], Any], thread: type[threading.Thread] = threading.Thread) -> Future:
    """Run ``call`` on a thread of its own; its outcome, once it returns."""
    outcome: Future[Any] = Future()

    def run() -> None:
        try:
            outcome.set_result(call())
        except BaseException as err:
            outcome.set_exception(err)

    thread(target=run, daemon=True).start()
    return outcome


def blocked_clients(client: redis.Redis) -> int:
    return int(client.info("clients")["blocked_clients"])


def next_message(consumer: Consumer) -> Any:
    """The consumer's next message, woken as often as it takes (never more than twice)."""
    for _ in range(3):
        message = in_thread(lambda: next(consumer)).result(timeout=WOKEN_WITHIN_S)
        if message is not None:
            return message
    raise AssertionError("woken three times without a message")


@pytest.mark.parametrize("level", list(LEVELS))
def test_a_consumer_blocked_on_an_idle_queue_wakes_for_an_enqueue(level, broker, client):
    queue_name = LEVELS[level].queue_name
    consumer = broker.consume(queue_name, prefetch=1, timeout=TIMEOUT_MS)
    blocked_before = blocked_clients(client)
    woken = in_thread(lambda: next(consumer))
    assert wait_until(lambda: blocked_clients(client) > blocked_before, WOKEN_WITHIN_S)

    sent = broker.enqueue(welcome(queue_name))

    assert woken.result(timeout=WOKEN_WITHIN_S) is None  # woken, not timed out
    message = next_message(consumer)
    assert message.message_id == sent.message_id
    consumer.ack(message)


def test_an_enqueue_between_the_fetch_and_the_wait_is_not_missed(broker, monkeypatch):
    """The message lands after the fetch found the queue empty and before the consumer blocks:
    the wake entry it added is newer than the last one the consumer saw, so the wait ends."""
    queue_name = LEVELS["high"].queue_name
    broker.enqueue(welcome(queue_name, 1))
    consumer = broker.consume(queue_name, prefetch=1, timeout=TIMEOUT_MS)
    consumer.ack(next_message(consumer))  # the consumer has seen the queue's last entry
    fetch = broker.do_fetch
    sent: list[dramatiq.Message[Any]] = []

    def fetch_then_enqueue(queue: str, count: int) -> list[bytes]:
        found = fetch(queue, count)
        if not sent:
            sent.append(broker.enqueue(welcome(queue_name, 2)))
        return found

    monkeypatch.setattr(broker, "do_fetch", fetch_then_enqueue)
    assert in_thread(lambda: next(consumer)).result(timeout=WOKEN_WITHIN_S) is None
    message = next_message(consumer)
    assert message.message_id == sent[0].message_id
    consumer.ack(message)


def test_a_batch_enqueue_wakes_the_queue(broker, client):
    queue_name = LEVELS["normal"].queue_name
    consumer = broker.consume(queue_name, prefetch=4, timeout=TIMEOUT_MS)
    blocked_before = blocked_clients(client)
    woken = in_thread(lambda: next(consumer))
    assert wait_until(lambda: blocked_clients(client) > blocked_before, WOKEN_WITHIN_S)

    enqueue_all(broker, [welcome(queue_name, n) for n in range(3)])

    assert woken.result(timeout=WOKEN_WITHIN_S) is None
    for _ in range(3):
        consumer.ack(next_message(consumer))


def test_a_full_prefetch_waits_for_an_ack_instead_of_a_timeout(broker):
    queue_name = LEVELS["low"].queue_name
    for n in range(2):
        broker.enqueue(welcome(queue_name, n))
    consumer = broker.consume(queue_name, prefetch=1, timeout=TIMEOUT_MS)
    first = next_message(consumer)
    waiting = in_thread(lambda: next(consumer))  # no room: one message out, prefetch 1
    time.sleep(0.2)
    assert not waiting.done()

    consumer.ack(first)

    assert waiting.result(timeout=WOKEN_WITHIN_S) is None
    consumer.ack(next_message(consumer))


def test_a_busy_queue_is_refilled_once_half_the_prefetch_is_free(broker, client):
    queue_name = LEVELS["low"].queue_name
    for n in range(6):
        broker.enqueue(welcome(queue_name, n))
    consumer = broker.consume(queue_name, prefetch=4, timeout=TIMEOUT_MS)
    handed_out = [next_message(consumer) for _ in range(4)]
    assert client.llen(f"{broker.namespace}:{queue_name}") == 2  # one fetch took four

    consumer.ack(handed_out.pop())
    waiting = in_thread(lambda: next(consumer))  # one place free of four: not worth a fetch
    time.sleep(0.2)
    assert not waiting.done()
    assert client.llen(f"{broker.namespace}:{queue_name}") == 2

    consumer.ack(handed_out.pop())  # two free: the next fetch takes both left

    assert waiting.result(timeout=WOKEN_WITHIN_S) is None
    handed_out += [next_message(consumer) for _ in range(2)]
    assert client.llen(f"{broker.namespace}:{queue_name}") == 0
    for message in handed_out:
        consumer.ack(message)


class _ConsumerThread(threading.Thread):
    """A thread holding a delayed message, as Dramatiq's consumer thread does."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.delay_queue: PriorityQueue[tuple[int, Any]] = PriorityQueue()
        eta_ms = int(time.time() * 1000) + 200
        self.delay_queue.put((eta_ms, welcome(LEVELS["critical"].queue_name)))


def test_a_stopping_worker_s_consumers_wait_briefly(redis_url):
    """Dramatiq stops the consumers after the worker threads: by then, none may be blocked
    for a whole timeout. (A broker of its own: no middleware sees the shutdown signal.)"""
    broker = RedisBroker(url=redis_url, middleware=[])
    consumer = broker.consume(LEVELS["high"].queue_name, timeout=TIMEOUT_MS)
    broker.emit_before("worker_shutdown", None)
    for _ in range(2):  # the first wait may end at the stream's existing entry
        assert in_thread(lambda: next(consumer)).result(timeout=WOKEN_WITHIN_S) is None
    broker.emit_before("worker_boot", None)
    assert not broker.stopping.is_set()
    broker.client.close()


def test_a_delay_queue_consumer_wakes_at_its_earliest_eta(broker):
    consumer = broker.consume(f"{LEVELS['critical'].queue_name}.DQ", timeout=TIMEOUT_MS)
    woken = in_thread(lambda: next(consumer), thread=_ConsumerThread)
    assert woken.result(timeout=WOKEN_WITHIN_S) is None


def acks_and_bodies(broker: RedisBroker, client: redis.Redis, queue_name: str) -> tuple[int, int]:
    """What this worker still has to ack of a queue, and the bodies the queue still stores."""
    acks = queue_acks.acks_key(broker.namespace, broker.broker_id, queue_name)
    return int(client.scard(acks)), int(client.hlen(f"{broker.namespace}:{queue_name}.msgs"))


def test_a_message_acked_with_its_outcome_is_not_acked_again(broker, client, monkeypatch):
    queue_name = LEVELS["low"].queue_name
    broker.enqueue(welcome(queue_name))
    consumer = broker.consume(queue_name, prefetch=1, timeout=TIMEOUT_MS)
    message = next_message(consumer)
    assert acks_and_bodies(broker, client, queue_name) == (1, 1)

    batch = Batch(client)
    broker.ack_into(batch, message)
    batch.execute()
    assert acks_and_bodies(broker, client, queue_name) == (0, 0)
    dramatiq_acks: list[Any] = []
    monkeypatch.setattr(broker, "do_ack", lambda *args: dramatiq_acks.append(args))
    consumer.ack(message)

    assert dramatiq_acks == []
    assert consumer.outstanding_message_count == 0  # room for the next fetch


def test_a_message_whose_ack_rides_with_its_outcome_stays_until_the_outcome_is_written(
    broker, client
):
    queue_name = LEVELS["low"].queue_name
    broker.enqueue(welcome(queue_name))
    consumer = broker.consume(queue_name, prefetch=1, timeout=TIMEOUT_MS)
    message = next_message(consumer)

    batch = Batch(client)
    assert broker.ack_into(batch, message)  # handed to the settler, not written yet
    consumer.ack(message)  # the actor returned meanwhile
    assert acks_and_bodies(broker, client, queue_name) == (1, 1)  # not done before its outcome

    batch.execute()
    assert acks_and_bodies(broker, client, queue_name) == (0, 0)


def test_a_failed_message_whose_ack_was_to_ride_with_its_outcome_is_nacked(broker, client):
    queue_name = LEVELS["low"].queue_name
    broker.enqueue(welcome(queue_name))
    consumer = broker.consume(queue_name, prefetch=1, timeout=TIMEOUT_MS)
    message = next_message(consumer)

    assert broker.ack_into(Batch(client), message)  # the outcome never ran: Redis was down
    consumer.nack(message)  # so the send raised

    assert acks_and_bodies(broker, client, queue_name) == (0, 0)
    assert not broker.acked_already(message.options["redis_message_id"])


def test_a_message_this_broker_did_not_hand_out_is_not_acked_early(broker, client):
    queue_name = LEVELS["low"].queue_name
    message = dramatiq.broker.MessageProxy(broker.enqueue(welcome(queue_name)))

    batch = Batch(client)
    broker.ack_into(batch, message)

    assert len(batch) == 0
    assert acks_and_bodies(broker, client, queue_name) == (0, 1)
    assert broker.acked_already(message.options["redis_message_id"]) is False
    client.delete(f"{broker.namespace}:{queue_name}", f"{broker.namespace}:{queue_name}.msgs")
