"""Sending once: idempotency keys at the call site, receipts and claims in the worker."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import dramatiq
import pytest
from periodiq import cron

from mailer import send_email, settings, stores
from mailer.actors import emails
from mailer.backends import memory
from mailer.priorities import LEVELS
from mailer.stores import keys as store
from mailer.stores import redis_client
from mailer.stores.idempotency_keys import IdempotencyKeys
from mailer.stores.receipts import Receipts
from tests.support.brokers import dead_letters, drain

WELCOME = {"name": "Ann"}


def queued(broker) -> list[dramatiq.Message]:
    return [
        dramatiq.Message.decode(data)
        for queue in broker.queues.values()
        for data in list(queue.queue)
    ]


def test_the_same_idempotency_key_queues_once_and_returns_the_first_id(stub_broker):
    key = f"signup:{uuid.uuid4()}"
    first = send_email("welcome", to="ann@example.com", context=WELCOME, idempotency_key=key)
    again = send_email("welcome", to="ann@example.com", context=WELCOME, idempotency_key=key)
    other = send_email("welcome", to="ann@example.com", context=WELCOME, idempotency_key=key + "x")
    assert again == first != other
    assert sorted(m.message_id for m in queued(stub_broker)) == sorted([first, other])


def test_a_failed_enqueue_frees_the_idempotency_key(stub_broker, monkeypatch):
    key = f"signup:{uuid.uuid4()}"

    def refuse(message, *, delay=None):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(stub_broker, "enqueue", refuse)
    with pytest.raises(ConnectionError):
        send_email("welcome", to="ann@example.com", context=WELCOME, idempotency_key=key)
    monkeypatch.undo()
    message_id = send_email("welcome", to="ann@example.com", context=WELCOME, idempotency_key=key)
    assert [m.message_id for m in queued(stub_broker)] == [message_id]


def test_an_expired_idempotency_key_is_taken_again(redis_url):
    keys = IdempotencyKeys(redis_client(redis_url), ttl_s=60)
    key = f"k:{uuid.uuid4()}"
    assert keys.claim(key, "first") is None
    assert keys.claim(key, "second") == "first"
    redis_client(redis_url).delete(store.key("idempotency", key))  # as the TTL would
    assert keys.claim(key, "third") is None


def test_send_at_soon_is_a_delayed_message(stub_broker):
    send_at = datetime.now(timezone.utc) + timedelta(minutes=5)
    message_id = send_email("welcome", to="ann@example.com", context=WELCOME, send_at=send_at)
    [message] = queued(stub_broker)
    assert message.message_id == message_id
    assert message.queue_name == LEVELS["high"].queue_name + ".DQ"
    eta_s = message.options["eta"] / 1000
    assert abs(eta_s - send_at.timestamp()) < 1


def test_send_at_in_the_past_is_sent_now(stub_broker):
    past = datetime.now(timezone(timedelta(hours=2))) - timedelta(hours=1)
    send_email("welcome", to="ann@example.com", context=WELCOME, send_at=past)
    [message] = queued(stub_broker)
    assert message.queue_name == LEVELS["high"].queue_name


def test_a_sent_message_is_recorded_and_a_second_copy_is_skipped(stub_broker, stub_worker):
    message = emails.lookup("welcome").actor.message(_envelope(), WELCOME)
    stub_broker.enqueue(message)
    drain(stub_broker, stub_worker)
    receipt = stores.for_settings(settings.current()).receipts.get(message.message_id)
    assert receipt is not None and receipt.backend == "memory"
    assert receipt.provider_id.startswith("memory-")

    # Redis redelivers the same message after a worker died before its ack.
    stub_broker.enqueue(message)
    drain(stub_broker, stub_worker)
    assert len(memory.sent()) == 1
    assert dead_letters(stub_broker) == []


def test_a_message_another_worker_is_sending_is_put_back_not_retried(stub_broker, stub_worker):
    message = emails.lookup("welcome").actor.message(_envelope(), WELCOME)
    receipts = stores.for_settings(settings.current()).receipts
    token, _ = receipts.claim(message.message_id)  # another worker, mid-send
    assert token is not None
    enqueued = record_enqueues(stub_broker)
    stub_broker.enqueue(message)
    wait_until(lambda: len(enqueued) == 2)
    put_back, delay_ms = enqueued[1]
    assert put_back.message_id == message.message_id
    assert put_back.queue_name.endswith(".DQ")
    assert put_back.options["deferrals"] == 1
    assert delay_ms == 1_000  # looked at again soon, not at the end of the claim's lease
    assert "retries" not in put_back.options
    assert memory.sent() == []


def test_claims_are_exclusive_and_released_by_their_owner_only(redis_url):
    receipts = Receipts(redis_client(redis_url), ttl_s=60, lease_s=5)
    message_id = str(uuid.uuid4())
    token, _ = receipts.claim(message_id)
    other, wait_ms = receipts.claim(message_id)
    assert token is not None and other is None and 4000 < wait_ms <= 5000
    receipts.release(message_id, "not-the-owner")
    assert receipts.claim(message_id)[0] is None
    receipts.release(message_id, token)
    assert receipts.claim(message_id)[0] is not None


def test_one_call_checks_the_receipt_and_claims_and_one_records_and_releases(redis_url):
    receipts = Receipts(redis_client(redis_url), ttl_s=60, lease_s=5)
    message_id = str(uuid.uuid4())
    receipt, token, wait_ms = receipts.check_and_claim(message_id)
    assert receipt is None and token is not None and wait_ms == 0
    assert receipts.check_and_claim(message_id)[1:] != (None, 0)  # held: a wait, no token
    assert receipts.check_and_claim(message_id)[1] is None
    receipts.record(message_id, "smtp", "provider-7", release="not-the-owner")
    assert receipts.claim(message_id)[0] is None  # a stranger's token lets nothing go
    receipts.record(message_id, "smtp", "provider-7", release=token)
    sent, no_token, no_wait = receipts.check_and_claim(message_id)
    assert (sent.backend, sent.provider_id, no_token, no_wait) == ("smtp", "provider-7", None, 0)
    assert receipts.claim(message_id)[0] is not None  # the claim went with the record


def test_a_periodic_tick_runs_once_however_many_schedulers_sent_it(stub_broker, stub_worker):
    runs: list[int] = []

    def tick() -> None:
        runs.append(1)

    actor = dramatiq.actor(
        tick, broker=stub_broker, actor_name=f"tick_{uuid.uuid4().hex}", periodic=cron("* * * * *")
    )
    instant = datetime.now(timezone.utc).replace(microsecond=0)  # periodiq drops older ticks
    for scheduled_at in (
        instant.isoformat(),
        instant.astimezone(timezone(timedelta(hours=1))).isoformat(),
    ):
        actor.send_with_options(scheduled_at=scheduled_at)
    actor.send()  # sent by hand: not a tick, always runs
    stub_broker.join(actor.queue_name)
    stub_worker.join()
    assert len(runs) == 2


def record_enqueues(broker) -> list[tuple[dramatiq.Message, int | None]]:
    enqueued: list[tuple[dramatiq.Message, int | None]] = []

    class Recorder(dramatiq.Middleware):
        def after_enqueue(self, broker, message, delay):
            enqueued.append((message, delay))

    broker.add_middleware(Recorder())
    return enqueued


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _envelope() -> dict[str, object]:
    from mailer.envelope import Email

    return Email(to=["ann@example.com"], from_email="", tags=["welcome"]).to_json()


def test_a_copy_takes_back_the_claim_its_tries_lost_answer_left(stub_broker, stub_worker):
    """Redis ran the gate's script but its answer never came: the copy put back carries the
    claim's token and sends at once instead of waiting out the lease."""
    message = emails.lookup("welcome").actor.message(_envelope(), WELCOME)
    receipts = stores.for_settings(settings.current()).receipts
    receipts.client.set(receipts.claim_key(message.message_id), "lost-answer", px=60_000)
    started = time.monotonic()
    stub_broker.enqueue(message.copy(options={"claim_token": "lost-answer", "deferrals": 1}))
    drain(stub_broker, stub_worker)
    assert [email.to for email in memory.sent()] == [["ann@example.com"]]
    assert time.monotonic() - started < 5, "sent at once, not after the lease"
    assert receipts.client.get(receipts.claim_key(message.message_id)) is None
