"""Sending once through real worker processes: idempotency keys, and a worker killed mid-batch.

The kill test is the one duplicate mailer cannot rule out, measured: a message the SMTP server
accepted while its worker was being killed has no receipt, so it is sent again. Every message
whose receipt was written is never sent twice, and nothing is lost.
"""

from __future__ import annotations

import collections

import pytest
import redis

from mailer import send_email
from mailer.stores.receipts import Receipts
from tests.support.queues import dead_letters
from tests.support.smtp_server import SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

WELCOME = {"name": "Ann", "app_name": "Acme"}
THREADS = 4
SENDER = "Shop <shop@example.com>"


def message_ids_received(sink: SMTPSink) -> collections.Counter[str]:
    return collections.Counter(
        r.message["Message-ID"].strip("<>").split("@")[0] for r in sink.messages
    )


def test_the_same_idempotency_key_twice_sends_once(smtp_sink, start_worker, redis_url):
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER})
    first = send_email("welcome", "ann@example.com", WELCOME, idempotency_key="signup:42")
    again = send_email("welcome", "ann@example.com", WELCOME, idempotency_key="signup:42")
    smtp_sink.wait_for(1)
    assert again == first
    later = send_email("welcome", "ann@example.com", WELCOME)
    smtp_sink.wait_for(2)
    assert message_ids_received(smtp_sink) == {first: 1, later: 1}, worker.log()


def test_a_worker_killed_mid_batch_loses_nothing_and_resends_no_confirmed_message(
    smtp_sink, start_worker, redis_url
):
    smtp_sink.data_delay_s = 0.05
    env = {**smtp_sink.env(), "MAILER_FROM": SENDER, "MAILER_HEARTBEAT_TIMEOUT": "5"}
    message_ids = [send_email("welcome", f"user{n}@example.com", WELCOME) for n in range(60)]
    receipts = Receipts(redis.Redis.from_url(redis_url), ttl_s=3600, lease_s=5)

    def confirmed_ids() -> set[str]:
        return {m for m in message_ids if receipts.get(m) is not None}

    doomed = start_worker(env, threads=THREADS)
    # Wait on receipts, not on the server: it counts a message before the worker reads its reply.
    assert wait_until(lambda: len(confirmed_ids()) >= 15), doomed.log()
    doomed.kill()
    confirmed = confirmed_ids()
    assert 15 <= len(confirmed) < 60

    survivor = start_worker(env, threads=THREADS)
    assert wait_until(lambda: set(message_ids_received(smtp_sink)) >= set(message_ids), 60), (
        survivor.log()
    )
    received = message_ids_received(smtp_sink)
    sent_twice = {m for m, count in received.items() if count > 1}
    assert not sent_twice & confirmed
    # Only what the server accepted with no receipt known written: at most one per thread,
    # since a thread reads its last outcome's answer before its next provider call.
    assert len(sent_twice) <= THREADS
    assert max(received.values()) <= 2
    assert dead_letters(redis_url) == []
