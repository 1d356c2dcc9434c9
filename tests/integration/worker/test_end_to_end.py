"""send_email in this process, a real ``dramatiq mailer.actors`` worker, a real Redis."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import time
from pathlib import Path

import pytest
import redis

from mailer import send_email
from mailer.templates import BUNDLED_DIR
from tests.support.queues import dead_letters
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration


def eml_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml"))


def test_file_backend_delivers_a_rendered_email(start_worker, tmp_path):
    start_worker({"MAILER_BACKEND": "file", "MAILER_OUTBOX_DIR": str(tmp_path)})
    message_id = send_email(
        "appointment_confirmation",
        to="Ann Example <ann@example.com>",
        context={"name": "Ann", "starts_at": "2026-12-01T10:30:00+00:00", "service": "Haircut"},
        attachments=[("booking.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")],
    )
    assert wait_until(lambda: len(eml_files(tmp_path)) == 1)
    [path] = eml_files(tmp_path)
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == f"<{message_id}@example.com>"
    assert parsed["To"].addresses[0].display_name == "Ann Example"
    assert "Haircut" in parsed["Subject"]
    body = parsed.get_body(("html",))
    assert body is not None and "Haircut" in body.get_content()
    assert [part.get_filename() for part in parsed.iter_attachments()] == ["booking.ics"]


def test_render_failure_in_the_worker_is_dead_lettered_once(start_worker, tmp_path, redis_url):
    app_templates = tmp_path / "templates"
    (app_templates / "broken").mkdir(parents=True)
    (app_templates / "broken" / "subject.txt").write_text("Hi {{ name }}")
    (app_templates / "broken" / "body.html").write_text("{{ name | no_such_filter }}")
    outbox = tmp_path / "outbox"
    env = {
        "MAILER_BACKEND": "file",
        "MAILER_OUTBOX_DIR": str(outbox),
        "MAILER_TEMPLATES_DIR": str(app_templates),
    }
    worker = start_worker(env)
    from mailer import settings
    from mailer.actors import emails
    from mailer.settings import Settings

    settings.configure(Settings.from_env({**os.environ, **env, "REDIS_URL": redis_url}))
    try:
        emails.email_type("broken")
        send_email("broken", to="ann@example.com", context={"name": "Ann"})
    finally:
        emails.EMAIL_TYPES.pop("broken", None)
        settings.configure(None)
    assert wait_until(lambda: len(dead_letters(redis_url)) == 1), worker.log()
    assert eml_files(outbox) == []


def test_console_backend_prints_the_email_in_the_worker_log(start_worker):
    worker = start_worker({"MAILER_BACKEND": "console"})
    message_id = send_email(
        "admin_alert", to="ops@example.com", context={"subject": "Disk 91% full", "message": "db-1"}
    )
    assert wait_until(lambda: f"<{message_id}@example.com>" in worker.log()), worker.log()
    assert "Disk 91% full" in worker.log()
    assert "Subject: " in worker.log()


def test_a_critical_email_overtakes_a_low_priority_backlog(start_worker, tmp_path, redis_url):
    post = {"title": "Autumn news", "url": "https://example.com/p/1", "excerpt": "What is new"}
    for number in range(400):
        send_email("new_post", to=f"reader{number}@example.com", context=post)
    start_worker({"MAILER_BACKEND": "file", "MAILER_OUTBOX_DIR": str(tmp_path)}, threads=2)
    assert wait_until(lambda: len(eml_files(tmp_path)) >= 20)

    started = time.monotonic()
    send_email(
        "password_reset",
        to="ann@example.com",
        context={"name": "Ann", "reset_url": "https://example.com/r/1"},
    )
    assert wait_until(
        lambda: any(b"ann@example.com" in p.read_bytes() for p in eml_files(tmp_path))
    )
    latency_s = time.monotonic() - started

    low_waiting = redis.Redis.from_url(redis_url).llen("dramatiq:mailer_low")
    assert low_waiting > 100, "the backlog had drained: the test proved nothing"
    assert latency_s < 1.5


def test_sent_emails_are_acked_with_their_outcome_and_leave_nothing_queued(
    start_worker, tmp_path, redis_url
):
    start_worker({"MAILER_BACKEND": "file", "MAILER_OUTBOX_DIR": str(tmp_path)})
    client = redis.Redis.from_url(redis_url)
    for n in range(5):
        send_email("welcome", to=f"user{n}@example.com", context={"name": f"User {n}"})
    assert wait_until(lambda: len(eml_files(tmp_path)) == 5)

    def queued_or_unacked() -> list[bytes]:
        unacked = [key for key in client.scan_iter("dramatiq:__acks__.*") if client.scard(key)]
        return unacked + [key for key in client.scan_iter("dramatiq:*.msgs") if client.hlen(key)]

    assert wait_until(lambda: queued_or_unacked() == []), queued_or_unacked()
    time.sleep(0.5)  # no copy comes back later either
    assert len(eml_files(tmp_path)) == 5


def test_a_running_worker_uses_an_edited_template_within_a_second(start_worker, tmp_path):
    app_templates = tmp_path / "templates"
    shutil.copytree(BUNDLED_DIR / "welcome", app_templates / "welcome")
    (app_templates / "welcome" / "subject.txt").write_text("First, {{ name }}")
    outbox = tmp_path / "outbox"
    start_worker(
        {
            "MAILER_BACKEND": "file",
            "MAILER_OUTBOX_DIR": str(outbox),
            "MAILER_TEMPLATES_DIR": str(app_templates),
        }
    )
    send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    assert wait_until(lambda: len(eml_files(outbox)) == 1)

    (app_templates / "welcome" / "subject.txt").write_text("Edited, {{ name }}")
    time.sleep(1.5)  # the worker looks at the disk once a second (RECHECK_S)
    send_email("welcome", to="bob@example.com", context={"name": "Bob"})
    assert wait_until(lambda: len(eml_files(outbox)) == 2)

    subjects = sorted(
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"]
        for path in eml_files(outbox)
    )
    assert subjects == ["Edited, Bob", "First, Ann"]
