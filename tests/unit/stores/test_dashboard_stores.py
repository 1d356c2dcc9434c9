"""What the dashboard reads that the log did not keep before: traffic per minute, a tried
email's content (sensitive values masked at rest) and each event's subscriber outcomes."""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import redis

from mailer import Event, publish, send_email, subscribe
from mailer.attachments import Attachment
from mailer.envelope import Email
from mailer.masking import MASK
from mailer.settings import Settings
from mailer.stores import redis_client
from mailer.stores.delivery_log import Attempt, DeliveryLog
from mailer.stores.event_log import EventLog
from mailer.stores.scripts import Batch
from mailer.stores.traffic import Traffic
from mailer.templates import BUNDLED_DIR, Templates
from tests.support.brokers import drain
from tests.support.subscribers import own_subscribers


@pytest.fixture
def client(mailer_settings: Settings) -> redis.Redis:
    return redis_client(mailer_settings.redis_url)


def test_outcomes_are_counted_per_minute_and_per_hour(client: redis.Redis) -> None:
    prefix = f"t{uuid.uuid4().hex}"
    log = DeliveryLog(client, prefix=prefix)
    for status in ("sent", "sent", "retrying", "dead", "suppressed"):
        log.settled(uuid.uuid4().hex, "welcome", status, Attempt(time.time(), status))
    traffic = Traffic(client, prefix=prefix)
    minute, hour = traffic.per_minute(), traffic.per_hour()
    expected = {"sent": 2, "failed": 1, "dead": 1, "throttled": 0, "suppressed": 1}
    assert dict(minute.totals()) == expected == dict(hour.totals())
    assert len(minute.starts_s) == 60 and minute.counts["sent"][-1] == 2
    assert len(hour.starts_s) == 168 and hour.starts_s[-1] % 3600 == 0
    assert traffic.per_type()["welcome"]["dead"] == 1
    # An hour ago the minute series is empty; the hourly one still has them.
    assert sum(traffic.per_minute(now=time.time() + 3600).totals().values()) == 0


def test_a_sent_email_keeps_its_envelope_and_masked_context(
    stub_broker: dramatiq.Broker, stub_worker: dramatiq.Worker, client: redis.Redis
) -> None:
    context = {"name": "Ann", "reset_url": "https://example.com/reset/secret-token"}
    message_id = send_email("password_reset", "Ann <ann@example.com>", context)
    drain(stub_broker, stub_worker)
    log = DeliveryLog(client)
    kept = log.get(message_id)
    assert kept is not None and kept.template == "password_reset"
    assert kept.envelope["to"] == ["Ann <ann@example.com>"]
    assert kept.context == {"name": "Ann", "reset_url": MASK}
    # Masked before it was written: nothing readable in Redis is the credential.
    assert b"secret-token" not in zlib.decompress(client.get(log.content_key(message_id)))
    assert not any(
        b"secret-token" in v for v in client.hgetall(log.record_key(message_id)).values()
    )
    [attempt] = kept.attempts
    assert attempt.template_sha == Templates((BUNDLED_DIR,)).fingerprint("password_reset")
    assert client.ttl(log.content_key(message_id)) > 0


def test_a_failed_try_keeps_its_content_with_the_types_own_sensitive_keys(
    client: redis.Redis,
) -> None:
    log = DeliveryLog(client, retention_s=60, prefix=f"t{uuid.uuid4().hex}")
    email = Email(
        to=["ann@example.com"],
        from_email="",
        attachments=[Attachment("a.txt", b"12345", "text/plain")],
    )
    batch = Batch(client)
    log.settled_into(batch, "m1", "invoice", "retrying", Attempt(time.time(), "failed"))
    log.content_into(batch, "m1", email, {"pin": "1234", "n": [{"pin": "9"}]}, ["pin"])
    batch.execute()
    kept = log.get("m1")
    assert kept is not None and kept.context == {"pin": MASK, "n": [{"pin": MASK}]}
    assert kept.envelope["attachments"] == [
        {"filename": "a.txt", "mimetype": "text/plain", "size": 5}
    ]


def test_the_fingerprint_changes_with_a_file_the_type_extends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailer.templates.loader.RECHECK_S", 0.0)  # look at the files every time
    (tmp_path / "note").mkdir()
    (tmp_path / "base.html").write_text("<p>{% block body %}{% endblock %}</p>")
    (tmp_path / "note" / "subject.txt").write_text("Hi")
    (tmp_path / "note" / "body.html").write_text(
        '{% extends "base.html" %}{% block body %}x{% endblock %}'
    )
    before = Templates((tmp_path,)).fingerprint("note")
    assert Templates((tmp_path,)).fingerprint("note") == before
    time.sleep(0.01)
    (tmp_path / "base.html").write_text("<div>{% block body %}{% endblock %}</div>")
    assert Templates((tmp_path,)).fingerprint("note") != before


@pytest.fixture
def declared_subscribers() -> Iterator[None]:
    with own_subscribers():
        yield


def test_each_subscribers_outcome_is_recorded(
    stub_broker: dramatiq.Broker,
    stub_worker: dramatiq.Worker,
    client: redis.Redis,
    declared_subscribers: None,
) -> None:
    @subscribe("invoice.paid")
    def book(event: Event) -> None:
        """A subscriber that succeeds: its outcome is recorded as done."""

    @subscribe("invoice.paid", max_retries=0)
    def refuse(event: Event) -> None:
        raise RuntimeError("ledger closed")

    event_id = publish("invoice.paid", {"invoice": 7, "reset_url": "https://x/secret"})
    drain(stub_broker, stub_worker)
    record = EventLog(client).get(event_id)
    assert record is not None and record.topic == "invoice.paid"
    assert record.payload == {"invoice": 7, "reset_url": MASK}
    outcomes = {s.name: s for s in record.subscribers}
    assert outcomes["on_invoice_paid__book"].status == "done"
    refused = outcomes["on_invoice_paid__refuse"]
    assert (refused.status, refused.attempts) == ("dead", 1)
    assert refused.error == "RuntimeError: ledger closed"
    assert EventLog(client).recent(5)[0].event_id == event_id
