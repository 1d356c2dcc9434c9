"""The ``outbox`` fixture as an app's tests use it: mailer's public calls, run through the real
actors, templates and middleware in the test's own process, and read back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailer import (
    MissingContext,
    RenderError,
    TransientSendError,
    delivery_status,
    notify,
    publish,
    schedule_email,
    send_bulk,
    send_email,
    subscribe,
)
from mailer.actors import emails
from mailer.backends import memory
from mailer.testing import record


def test_send_email_is_rendered_and_sent_before_it_returns(outbox):
    message_id = send_email(
        "welcome",
        to="Ann <ann@example.test>",
        context={"name": "Ann"},
        cc="boss@acme.test",
        bcc=["audit@acme.test"],
        headers={"X-Campaign": "spring"},
        attachments=[("terms.txt", "Be nice.", "text/plain")],
    )
    [sent] = outbox
    assert sent.message_id == message_id
    assert sent.template == "welcome"
    assert sent.context == {"name": "Ann"}
    assert "Ann" in sent.subject
    assert sent.to == ["Ann <ann@example.test>"]
    assert sent.cc == ["boss@acme.test"] and sent.bcc == ["audit@acme.test"]
    assert sent.headers["X-Campaign"] == "spring"
    assert sent.attachments[0].content == b"Be nice."
    assert "Ann" in (sent.html or "") and "Ann" in sent.text
    assert outbox.to("audit@acme.test") == [sent]
    assert delivery_status(message_id).status == "sent"  # the worker's own bookkeeping


def test_a_missing_variable_raises_at_the_call(outbox):
    with pytest.raises(MissingContext):
        send_email("welcome", to="ann@example.test", context={})
    assert len(outbox) == 0


def test_a_template_that_fails_to_render_raises_in_the_test(tmp_path):
    """The plain context manager, here with the app's own templates folder."""
    folder = tmp_path / "kit_broken"
    folder.mkdir()
    (folder / "subject.txt").write_text("Hi")
    (folder / "body.html").write_text("{{ 1 / count }}")
    with record(templates_dir=tmp_path) as outbox:
        with pytest.raises(RenderError, match="ZeroDivisionError"):
            send_email("kit_broken", to="ann@example.test", context={"count": 0})
        assert len(outbox) == 0
        assert len(outbox.dead_letters) == 1
        assert delivery_status(outbox.dead_letters[0].message_id).status == "dead"
    assert "kit_broken" not in emails.EMAIL_TYPES  # the folder's type leaves with the block


def test_a_transient_failure_is_retried_when_the_clock_moves(outbox):
    memory.fail_next(TransientSendError("memory", "try later", status=421))
    send_email("welcome", to="ann@example.test", context={"name": "Ann"})
    assert len(outbox) == 0
    outbox.advance(seconds=1)  # its backoff is seconds, not one
    assert len(outbox) == 0
    outbox.advance(minutes=2)
    assert len(outbox) == 1


def test_schedule_email_sends_when_its_time_comes(outbox):
    starts = datetime.now(timezone.utc) + timedelta(days=2)
    context = {"name": "Ann", "service": "Cut", "starts_at": starts.isoformat()}
    at = starts - timedelta(hours=24)
    schedule_email("appointment_reminder", "ann@example.test", context, at=at, key="a:1")
    send_email(
        "welcome",
        "bob@example.test",
        {"name": "Bob"},
        send_at=datetime.now(timezone.utc) + timedelta(minutes=5),
    )
    outbox.advance(hours=23)
    assert [e.template for e in outbox] == ["welcome"]
    outbox.advance(hours=1, minutes=1)
    assert [e.template for e in outbox] == ["welcome", "appointment_reminder"]


def test_send_bulk_and_publish_and_notify(outbox):
    result = send_bulk(
        "new_post",
        ["a@example.test", {"email": "b@example.test"}],
        {"title": "Spring", "url": "https://example.test/p/1", "excerpt": "New."},
    )
    assert result.queued == 2
    assert sorted(e.to[0] for e in outbox) == ["a@example.test", "b@example.test"]

    notify(42, "Your export is ready", url="/exports/7")
    [notification] = outbox.notifications(42)
    assert notification.title == "Your export is ready" and not notification.read


def test_a_subscriber_runs_and_its_failure_raises_in_the_test(outbox):
    seen = []

    @subscribe("kit.tested", name="kit_tested_recorder")
    def record_it(event):
        seen.append(event.payload)
        if event.payload.get("boom"):
            raise KeyError("boom")

    publish("kit.tested", {"n": 1})
    assert seen == [{"n": 1}]
    with pytest.raises(KeyError):
        publish("kit.tested", {"boom": True})
