"""The delivery log and the metrics it feeds, written by the middleware on a StubBroker."""

from __future__ import annotations

import time

import pytest

from mailer import send_email, stores
from mailer.backends import memory
from mailer.errors import PermanentSendError, Throttled, TransientSendError
from mailer.middleware.log_deliveries import flush_queued
from mailer.middleware.stats import StatsLine
from mailer.stores import delivery_log as deliveries
from mailer.stores import keys as store
from mailer.stores import redis_client
from mailer.stores.delivery_log import Attempt
from mailer.web import metrics
from tests.support.brokers import drain

WELCOME = {"name": "Ann"}


@pytest.fixture
def log(mailer_settings, redis_url):
    client = redis_client(redis_url)
    for key in client.scan_iter(store.key("*")):
        client.delete(key)
    return stores.for_settings(mailer_settings).delivery_log


def test_a_queued_email_is_logged_before_any_worker_sees_it(stub_broker, log):
    message_id = send_email("welcome", "Ann <Ann@Example.com>", WELCOME)
    assert flush_queued()  # written off the caller's thread
    delivery = log.get(message_id)
    assert delivery is not None
    assert (delivery.status, delivery.template, delivery.to) == (
        "queued",
        "welcome",
        ["Ann <Ann@example.com>"],  # the domain as the address check normalised it
    )
    assert [d.message_id for d in log.search(to="ann@example.com")] == [message_id]
    # The caller's write says what the email is, not what it is made of: a worker keeps that.
    assert not {b"envelope", b"context"} & log.client.hgetall(log.record_key(message_id)).keys()
    assert (delivery.envelope, delivery.context) == ({}, {})
    assert not log.client.exists(log.content_key(message_id))


def test_a_sent_email_has_its_attempt_backend_and_provider_id(stub_broker, stub_worker, log):
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    drain(stub_broker, stub_worker)
    delivery = log.get(message_id)
    assert delivery.status == "sent"
    [attempt] = delivery.attempts
    assert (attempt.outcome, attempt.backend) == ("sent", "memory")
    assert attempt.provider_id == delivery.provider_id
    assert attempt.provider_id.startswith("memory-")
    assert attempt.duration_s is not None and attempt.duration_s >= 0
    assert [d.message_id for d in log.search(status="sent")] == [message_id]
    assert log.search(status="queued") == []


def test_a_retried_then_sent_email_keeps_every_attempt(stub_broker, stub_worker, log, fast_retries):
    memory.fail_next(TransientSendError("memory", "try later", status=451))
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    drain(stub_broker, stub_worker)
    delivery = log.get(message_id)
    assert [a.outcome for a in delivery.attempts] == ["failed", "sent"]
    assert delivery.attempts[0].error == "memory 451: try later"
    assert delivery.status == "sent"


def test_a_permanent_failure_is_dead_with_its_error(stub_broker, stub_worker, log):
    memory.fail_next(PermanentSendError("memory", "mailbox unavailable", status=550))
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    drain(stub_broker, stub_worker)
    delivery = log.get(message_id)
    assert delivery.status == "dead"
    assert delivery.error == "memory 550: mailbox unavailable"
    assert [d.message_id for d in log.search(status="dead", template="welcome")] == [message_id]
    # What the failed try was made of is kept for the page, mailer log and mailer dlq show.
    assert (delivery.envelope["to"], delivery.context) == (["ann@example.com"], WELCOME)
    assert log.search(status="dead", template="password_reset") == []


def test_throttling_counts_without_failing(stub_broker, stub_worker, log):
    memory.fail_next(Throttled("memory", "slow down", status=429, retry_after_s=0.05))
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    deadline = time.monotonic() + 5
    while getattr(log.get(message_id), "status", None) != "sent" and time.monotonic() < deadline:
        time.sleep(0.02)
    delivery = log.get(message_id)
    assert (delivery.status, delivery.throttled) == ("sent", 1)
    assert [a.outcome for a in delivery.attempts] == ["throttled", "sent"]


def test_a_batch_of_queued_records_is_indexed_like_single_ones(stub_broker, log):
    """More records than one script call takes: each is found by recipient, type and status."""
    message_ids = [
        send_email("welcome", f"User{n} <user{n}@example.com>", WELCOME) for n in range(25)
    ]
    assert flush_queued()
    for n, message_id in enumerate(message_ids):
        [found] = log.search(to=f"user{n}@example.com", status="queued")
        assert (found.message_id, found.template) == (message_id, "welcome")
    assert {d.message_id for d in log.search(template="welcome", limit=100)} == set(message_ids)


def test_a_late_queued_record_never_replaces_a_live_status(stub_broker, log):
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    assert flush_queued()
    [message] = [m for m in _queued_messages(stub_broker) if m.message_id == message_id]
    log.sending(message)
    log.queued_all([message])  # the caller's write, landing after the worker's
    assert log.get(message_id).status == "sending"
    log.settled(message_id, "welcome", "dead", Attempt(time.time(), "failed", "memory"))
    log.queued_all([message])  # even later: a dead email is not made queued again
    assert log.get(message_id).status == "dead"
    log.requeued(message)  # requeued from the dead letters
    assert log.get(message_id).status == "queued"


def _queued_messages(broker):
    import dramatiq

    return [dramatiq.Message.decode(d) for q in broker.queues.values() for d in list(q.queue)]


def test_search_by_time_range_is_newest_first(stub_broker, log):
    first = send_email("welcome", "ann@example.com", WELCOME)
    time.sleep(0.01)
    middle = time.time()
    time.sleep(0.01)  # message timestamps are whole milliseconds
    second = send_email("welcome", "ann@example.com", WELCOME)
    assert flush_queued()
    assert [d.message_id for d in log.search(to="ann@example.com")] == [second, first]
    assert [d.message_id for d in log.search(since=middle)] == [second]
    assert [d.message_id for d in log.search(until=middle)] == [first]
    assert len(log.search(limit=1)) == 1


def test_a_log_that_cannot_be_written_does_not_stop_sending(
    stub_broker, stub_worker, log, monkeypatch
):
    def broken(*args, **kwargs):
        raise ConnectionError("log unavailable")

    monkeypatch.setattr(deliveries.DeliveryLog, "sending", broken)
    send_email("welcome", "ann@example.com", WELCOME)
    drain(stub_broker, stub_worker)
    assert len(memory.sent()) == 1


def test_totals_and_metrics_come_from_the_same_writes(stub_broker, stub_worker, log, redis_url):
    memory.fail_next(PermanentSendError("memory", "no", status=550))
    for _ in range(3):
        send_email("welcome", "ann@example.com", WELCOME)
    drain(stub_broker, stub_worker)
    [(_, this_hour)] = log.hourly_totals(hours=1)
    assert this_hour == {"sent|welcome": 2, "dead|welcome": 1}
    text = metrics.render(log).decode()
    assert 'mailer_emails_total{backend="memory",event="sent",template="welcome"} 2.0' in text
    assert 'mailer_emails_total{backend="memory",event="dead",template="welcome"} 1.0' in text
    assert "mailer_send_duration_seconds_count 2.0" in text


def test_the_stats_line_says_what_was_sent_and_what_waits(stub_broker, stub_worker, log):
    stats = next(m for m in stub_broker.middleware if isinstance(m, StatsLine))
    stats.line(30)  # start from zero
    send_email("welcome", "ann@example.com", WELCOME)
    drain(stub_broker, stub_worker)
    line = stats.line(30)
    assert line.startswith("Stats: sent 1, failed 0 in the last 30 s; queued/delayed/dead:")
    assert "critical 0/0/0" in line
