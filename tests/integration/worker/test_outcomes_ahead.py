"""Outcomes and transactional gates sent ahead of their answers, through a real ``dramatiq
mailer.actors`` process on a real Redis and SMTP server: a worker gone idle right after a
burst still has every outcome written and every message acked; one stopped right after it has
every email that reached the server recorded as sent; a message sent already is skipped
although a transactional email renders before the gate's answer is read."""

from __future__ import annotations

import pytest
import redis

from mailer import search_deliveries, send_email
from mailer.stores.receipts import Receipts
from tests.integration.worker.test_send_once import SENDER, WELCOME, message_ids_received
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

EMAILS = 30


def sent_ids() -> set[str]:
    return {d.message_id for d in search_deliveries(status="sent", limit=500)}


def queued_bodies(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    return sum(int(client.hlen(key)) for key in client.scan_iter("dramatiq:*.msgs"))


def test_an_idle_worker_has_every_outcome_written_and_every_message_acked(
    smtp_sink, start_worker, redis_url
):
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER}, threads=4)
    ids = [send_email("welcome", f"user{n}@example.com", WELCOME) for n in range(EMAILS)]

    assert wait_until(lambda: sent_ids() >= set(ids), 15), worker.log()
    assert wait_until(lambda: queued_bodies(redis_url) == 0, 5), worker.log()
    receipts = Receipts(redis.Redis.from_url(redis_url), ttl_s=3600, lease_s=5)
    assert all(receipts.get(m) is not None for m in ids)
    assert "Could not write the outcome" not in worker.log()


def test_a_worker_stopped_right_after_a_burst_records_every_email_it_sent(
    smtp_sink, start_worker, redis_url
):
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER}, threads=4)
    ids = [send_email("welcome", f"user{n}@example.com", WELCOME) for n in range(EMAILS)]
    assert wait_until(lambda: len(smtp_sink.messages) >= EMAILS // 3, 15), worker.log()
    worker.stop()  # SIGTERM mid-burst

    arrived = set(message_ids_received(smtp_sink))
    receipts = Receipts(redis.Redis.from_url(redis_url), ttl_s=3600, lease_s=5)
    assert arrived and all(receipts.get(m) is not None for m in arrived), worker.log()
    assert sent_ids() >= arrived

    again = start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER}, threads=4)
    assert wait_until(lambda: set(message_ids_received(smtp_sink)) >= set(ids), 20), again.log()
    assert max(message_ids_received(smtp_sink).values()) == 1  # none sent twice


def test_a_transactional_email_sent_already_is_skipped_though_rendered_ahead(
    smtp_sink, start_worker, redis_url
):
    done = send_email(
        "password_reset", "ann@example.com", {"name": "Ann", "reset_url": "https://x/r/1"}
    )
    receipts = Receipts(redis.Redis.from_url(redis_url), ttl_s=3600, lease_s=5)
    receipts.record(done, "smtp", "sent-by-an-earlier-worker")
    fresh = send_email(
        "password_reset", "bob@example.com", {"name": "Bob", "reset_url": "https://x/r/2"}
    )

    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER})
    assert wait_until(lambda: fresh in message_ids_received(smtp_sink), 15), worker.log()
    assert wait_until(lambda: queued_bodies(redis_url) == 0, 5), worker.log()
    assert done not in message_ids_received(smtp_sink)
    assert f"Skipped message {done}: already sent" in worker.log()
