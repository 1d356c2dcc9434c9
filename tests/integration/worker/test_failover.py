"""Failover through a real worker: an SMTP server that keeps answering 451 sends mail to the
fallback (the file backend) for the cool-down, and once it recovers, mail goes back to it.

Each delivery's receipt in Redis names the backend that sent it, which is what is asserted.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from mailer import send_email
from mailer.stores.failover import Failover, FailoverStatus
from mailer.stores.receipts import Receipts
from tests.support.smtp_server import SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"
AFTER = 3
COOLDOWN_S = 3.0
TRY_LATER = "451 4.3.0 Try again later"


def worker_env(sink: SMTPSink, outbox: Path) -> dict[str, str]:
    return {
        **sink.env(),
        "MAILER_FROM": SENDER,
        "MAILER_FALLBACK_BACKEND": "file",
        "MAILER_OUTBOX_DIR": str(outbox),
        "MAILER_FAILOVER_AFTER": str(AFTER),
        "MAILER_FAILOVER_COOLDOWN": str(COOLDOWN_S),
    }


def send_welcome(number: int) -> str:
    return send_email("welcome", f"user{number}@example.com", {"name": f"User {number}"})


def sent_through(client: redis.Redis, message_ids: list[str]) -> list[str | None]:
    receipts = Receipts(client, ttl_s=3600, lease_s=60)
    found = [receipts.get(message_id) for message_id in message_ids]
    return [None if receipt is None else receipt.backend for receipt in found]


def all_sent(client: redis.Redis, message_ids: list[str]) -> bool:
    return None not in sent_through(client, message_ids)


def circuit(client: redis.Redis) -> FailoverStatus:
    return Failover(client, "smtp", "file", after=AFTER, cooldown_s=COOLDOWN_S).status()


def test_mail_goes_through_the_fallback_while_smtp_fails_and_back_once_it_recovers(
    smtp_sink, start_worker, tmp_path, redis_url
):
    client = redis.Redis.from_url(redis_url)
    smtp_sink.reject_all = TRY_LATER
    worker = start_worker(worker_env(smtp_sink, tmp_path), threads=2)

    # The first attempts fail at the primary until the circuit opens; retries use the fallback.
    during_outage = [send_welcome(number) for number in range(5)]
    assert wait_until(lambda: all_sent(client, during_outage)), worker.log()
    assert sent_through(client, during_outage) == ["file"] * 5
    assert len(list(tmp_path.glob("*.eml"))) == 5
    assert smtp_sink.messages == []
    assert AFTER <= smtp_sink.attempts <= AFTER + 2  # plus what other threads had in flight
    assert (
        f"Sending through file for 3 s after {AFTER} consecutive transient failures of smtp: "
        "smtp 451: 4.3.0 Try again later" in worker.log()
    )

    # Fixed, but the cool-down still runs: mail keeps going to the fallback.
    smtp_sink.reject_all = None
    status = circuit(client)
    assert status.state == "open" and status.open_until is not None
    assert status.open_until - time.time() > 1.0, "the outage took too long to test the cool-down"
    while_cooling = send_welcome(5)
    assert wait_until(lambda: all_sent(client, [while_cooling])), worker.log()
    assert sent_through(client, [while_cooling]) == ["file"]

    # After the cool-down one probe goes to the primary; its success closes the circuit.
    assert wait_until(lambda: circuit(client).state == "half-open", timeout_s=COOLDOWN_S + 1)
    probe = send_welcome(6)
    smtp_sink.wait_for(1)
    assert wait_until(lambda: all_sent(client, [probe]))
    after_recovery = [send_welcome(number) for number in range(7, 10)]
    assert wait_until(lambda: all_sent(client, after_recovery)), worker.log()
    assert sent_through(client, [probe, *after_recovery]) == ["smtp"] * 4
    assert len(smtp_sink.messages) == 4
    assert circuit(client).state == "closed"
    assert "Sending through smtp again" in worker.log()
    client.close()
