"""Failure records in the suite's Redis, the digest built from them, and the middleware and
actor that write and send them, on a StubBroker with the memory backend."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis

from mailer import send_email, settings
from mailer.actors import digest
from mailer.actors.digest_text import digest_context
from mailer.backends import memory
from mailer.errors import PermanentSendError, TransientSendError
from mailer.settings import Settings
from mailer.stores.failure_log import Failure, FailureLog
from mailer.templates import BUNDLED_DIR, Templates

from .conftest import dead_letters, drain

NOW = 1_790_000_000.0  # 2026-09-21T14:13:20Z, for digests built without Redis
WELCOME = {"name": "Ann"}


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.delete("mailer:failures")
    yield client
    client.delete("mailer:failures")
    client.close()


@pytest.fixture
def log(client: redis.Redis) -> FailureLog:
    return FailureLog(client)


@pytest.fixture
def on_suite_redis(mailer_settings: Settings, redis_url: str) -> Settings:
    """The stub broker's settings, pointed at the suite's Redis rather than the default one."""
    configured = dataclasses.replace(
        mailer_settings, redis_url=redis_url, admin_emails=("ops@example.com",)
    )
    settings.configure(configured)
    return configured


@pytest.fixture
def recording(stub_broker, stub_worker, on_suite_redis, log):
    """The stub broker, its sends recording their failures in the suite's Redis."""
    return stub_broker


def failure(**fields: object) -> Failure:
    values: dict[str, object] = {
        "message_id": "m1",
        "template": "password_reset",
        "to": ["ann@example.com"],
        "error": "smtp 550: 5.1.1 Mailbox unavailable",
        "final": True,
        "retries": 0,
        "at": NOW,
    }
    return Failure(**{**values, **fields})  # type: ignore[arg-type]


def record(log: FailureLog, message_id: str, **fields: Any) -> Failure:
    """Record a failure with dull defaults for the fields a test does not care about."""
    values = {"template": "welcome", "to": [], "error": "e", "final": True, "retries": 0}
    return log.record(message_id=message_id, **{**values, **fields})


# --- the log -------------------------------------------------------------------------------


def test_records_come_back_newest_first(log):
    now = time.time()
    record(log, "a", to=["a@x.org"], error="e1", final=False, retries=1, at=now - 20)
    record(log, "b", to=["b@x.org"], error="e2", at=now - 10)
    assert [f.message_id for f in log.since(0)] == ["b", "a"]
    assert log.since(now - 15) == [
        Failure("b", "welcome", ["b@x.org"], "e2", final=True, retries=0, at=now - 10)
    ]


def test_a_record_defaults_to_now(log):
    before = time.time()
    recorded = record(log, "a")
    assert before <= recorded.at <= time.time()
    assert log.since(before) == [recorded]


def test_records_older_than_the_keep_time_are_trimmed_on_write(client):
    log = FailureLog(client, keep_s=60)
    now = time.time()
    for at, message_id in ((now - 120, "old"), (now - 30, "recent"), (now, "new")):
        record(log, message_id, at=at)
    assert [f.message_id for f in log.since(0)] == ["new", "recent"]
    assert 0 < client.ttl("mailer:failures") <= 60


def test_only_the_newest_records_are_kept(client):
    now = time.time()
    log = FailureLog(client, max_entries=3)
    for number in range(5):
        record(log, f"m{number}", at=now + number)
    assert [f.message_id for f in log.since(0)] == ["m4", "m3", "m2"]


# --- the digest ----------------------------------------------------------------------------


def test_nothing_to_report_is_no_digest():
    assert digest_context([]) is None


def test_the_digest_counts_dead_emails_once_and_retried_attempts_apart():
    failures = [
        failure(message_id="r1", final=True, retries=8, at=NOW, error="smtp 451: busy"),
        failure(message_id="r1", final=False, retries=8, at=NOW - 60, error="smtp 451: busy"),
        failure(message_id="r1", final=False, retries=7, at=NOW - 120, error="smtp 451: busy"),
        failure(message_id="w1", template="welcome", to=["bo@example.com"], at=NOW - 5),
        failure(message_id="w2", template="welcome", final=False, retries=1, at=NOW - 7),
    ]
    context = digest_context(failures, hours=24)
    assert context is not None
    assert context["subject"] == "2 emails failed in the last 24 h"
    assert context["message"].splitlines() == [
        "2 emails could not be delivered and will not be retried.",
        "3 attempts failed and were retried.",
        "By email type: password_reset: 1 failed, 2 retried; welcome: 1 failed, 1 retried.",
        "Most common errors:",
        "- 3x smtp 451: busy",
        "- 2x smtp 550: 5.1.1 Mailbox unavailable",
    ]
    assert context["details"] == {
        "password_reset to ann@example.com": "smtp 451: busy",
        "welcome to bo@example.com": "smtp 550: 5.1.1 Mailbox unavailable",
    }
    assert context["occurred_at"] == "2026-09-21T14:13:20+00:00"


def test_the_same_refusal_for_different_recipients_counts_as_one_error():
    failures = [
        failure(
            message_id=f"m{n}",
            to=[f"u{n}@example.com"],
            error=f"smtp 550: every recipient was refused: u{n}@example.com (550 unknown)",
        )
        for n in range(3)
    ]
    context = digest_context(failures)
    assert context is not None
    assert (
        "- 3x smtp 550: every recipient was refused: <address> (550 unknown)" in context["message"]
    )
    # The details still name each recipient and keep the provider's words as they were.
    assert context["details"]["password_reset to u2@example.com"].endswith(
        "u2@example.com (550 unknown)"
    )


def test_the_digest_lists_the_twenty_most_recent_dead_emails_with_unique_labels():
    failures = [failure(message_id=f"m{n}", at=NOW - n) for n in range(30)]
    context = digest_context(failures)
    assert context is not None
    labels = list(context["details"])
    assert len(labels) == 20
    assert labels[:3] == [
        "password_reset to ann@example.com",
        "password_reset to ann@example.com (2)",
        "password_reset to ann@example.com (3)",
    ]
    assert context["subject"] == "30 emails failed in the last 24 h"


def test_only_retried_attempts_still_make_a_digest():
    context = digest_context([failure(final=False, retries=1)], hours=12)
    assert context is not None
    assert context["subject"] == "1 sending attempt failed and was retried in the last 12 h"
    assert context["details"] == {}


def test_the_digest_renders_with_the_admin_alert_template():
    context = digest_context([failure(), failure(message_id="m2", final=False, retries=1)])
    assert context is not None
    templates = Templates([BUNDLED_DIR])
    templates.check("admin_alert", context)
    rendered = templates.render("admin_alert", context)
    assert rendered.subject == "[Admin alert] 1 email failed in the last 24 h"
    assert "password_reset to ann@example.com: smtp 550: 5.1.1 Mailbox unavailable" in rendered.text
    assert "Monday 21 September 2026, 14:13 UTC" in rendered.text
    assert "password_reset to ann@example.com" in rendered.html


# --- the middleware ------------------------------------------------------------------------


def test_a_permanent_failure_is_recorded_as_final(recording, stub_worker, log):
    memory.fail_next(PermanentSendError("memory", "mailbox unavailable", status=550))
    message_id = send_email("welcome", to="Ann <ann@example.com>", context=WELCOME)
    drain(recording, stub_worker)
    assert [
        (f.message_id, f.template, f.to, f.error, f.final, f.retries) for f in log.since(0)
    ] == [
        (
            message_id,
            "welcome",
            ["Ann <ann@example.com>"],
            "memory 550: mailbox unavailable",
            True,
            0,
        )
    ]


def test_a_retried_failure_is_recorded_as_not_final(recording, stub_worker, log, fast_retries):
    memory.fail_next(TransientSendError("memory", "try again later", status=451))
    send_email("welcome", to="ann@example.com", context=WELCOME)
    drain(recording, stub_worker)
    assert len(memory.sent()) == 1
    [recorded] = log.since(0)
    assert (recorded.final, recorded.retries, recorded.error) == (
        False,
        1,
        "memory 451: try again later",
    )


def test_the_last_attempt_of_a_retried_email_is_final(
    recording, stub_worker, log, fast_retries, monkeypatch
):
    actor = recording.get_actor("send_welcome")
    monkeypatch.setitem(actor.options, "max_retries", 1)
    memory.fail_next(*[TransientSendError("memory", "down", status=503)] * 2)
    send_email("welcome", to="ann@example.com", context=WELCOME)
    drain(recording, stub_worker)
    assert [(f.final, f.retries) for f in log.since(0)] == [(True, 2), (False, 1)]
    assert len(dead_letters(recording)) == 1


def test_actors_that_send_no_email_are_not_recorded(recording, stub_worker, log):
    def explode() -> None:
        raise RuntimeError("not an email")

    actor = dramatiq.actor(explode, broker=recording, queue_name="mailer_low", max_retries=0)
    try:
        actor.send()
        drain(recording, stub_worker)
    finally:
        del recording.actors["explode"]  # or the broker swap-back would declare it globally
    assert log.since(0) == []
    assert len(dead_letters(recording)) == 1


# --- the digest actor ----------------------------------------------------------------------


def test_the_digest_actor_sends_one_admin_alert(recording, stub_worker, log):
    record(log, "m1", template="password_reset", to=["ann@example.com"], error="smtp 550: gone")
    record(log, "m0", to=["old@example.com"], at=time.time() - 25 * 3600)
    digest.send_failure_digest.send()
    drain(recording, stub_worker)
    [sent] = memory.sent()
    assert sent.to == ["ops@example.com"]
    assert sent.tags == ["admin_alert"]
    assert sent.subject == "[Admin alert] 1 email failed in the last 24 h"
    assert "password_reset to ann@example.com: smtp 550: gone" in sent.text
    assert "old@example.com" not in sent.text


def test_the_digest_actor_sends_nothing_without_failures(recording, stub_worker):
    digest.send_failure_digest.send()
    drain(recording, stub_worker)
    assert memory.sent() == []


def test_without_admin_addresses_the_digest_warns_once(
    recording, stub_worker, log, on_suite_redis, caplog, monkeypatch
):
    monkeypatch.setattr(digest, "_warned_no_admins", False)
    settings.configure(dataclasses.replace(on_suite_redis, admin_emails=()))
    record(log, "m1", to=["a@example.com"])
    for _ in range(2):
        digest.send_failure_digest.send()
        drain(recording, stub_worker)
    assert memory.sent() == []
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "mailer.actors.digest"
    ]
    assert [r.getMessage() for r in warnings] == [
        "MAILER_ADMIN_EMAILS is not set: the failure digest is not sent."
    ]
