"""The event bus end to end: a web process publishes, real workers run the subscribers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dramatiq
import pytest

from mailer import scheduled_email, settings, stores
from mailer.api import inbox
from mailer.stores import keys, redis_client
from mailer.stores.dead_letters import DeadLetters
from tests.support.smtp_server import smtp_sink
from tests.support.worker import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration
__all__ = ["smtp_sink"]

SECRET = {"MAILER_SECRET_KEY": "k" * 40}


def publish_from_another_process(env: dict[str, str], topic: str, payload: dict) -> str:
    """What the app's web process does: ``mailer.publish`` with the same settings."""
    code = "import json, sys, mailer; print(mailer.publish(sys.argv[1], json.loads(sys.argv[2])))"
    done = subprocess.run(
        [sys.executable, "-c", code, topic, json.dumps(payload)],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_user_registered_welcomes_the_user_and_notifies_the_admins(smtp_sink, start_worker):
    env = {
        **smtp_sink.env(),
        **SECRET,
        "MAILER_FROM": "Acme <hello@example.com>",
        "MAILER_FLOWS": "user.registered",
        "MAILER_ADMIN_USERS": "admin-1,admin-2",
    }
    start_worker(env)
    publish_from_another_process(
        env, "user.registered", {"user_id": 42, "email": "ann@example.com", "name": "Ann"}
    )
    [welcome] = smtp_sink.wait_for(1)
    assert welcome.rcpt_tos == ["ann@example.com"]
    assert "Ann" in welcome.message["Subject"]
    assert "List-Unsubscribe" not in welcome.message  # welcome is transactional
    for admin in ("admin-1", "admin-2"):
        assert wait_until(lambda admin=admin: inbox.notifications(admin).items, 10)
        [note] = inbox.notifications(admin).items
        assert (note.title, note.body) == ("New user: Ann", "ann@example.com")


def test_a_subscriber_that_fails_for_good_does_not_stop_the_other(start_worker):
    env = {"MAILER_EVENT_MODULES": "tests.support.app_events"}
    worker = start_worker(env)
    event_id = publish_from_another_process(env, "order.paid", {"order": 7})
    client = redis_client(settings.current().redis_url)
    recorded = keys.key("test", "payments")
    delivery_log = stores.for_settings(settings.current()).delivery_log
    dead = DeadLetters(dramatiq.get_broker(), log=delivery_log)
    assert wait_until(lambda: client.llen(recorded) and dead.count(), 20), worker.log
    [letter] = dead.list()
    assert letter.message.actor_name == "on_order_paid__email_invoice"
    assert letter.message.args[0]["id"] == event_id
    assert letter.retries == 0  # permanent: dead-lettered at once, not retried
    assert client.lrange(recorded, 0, -1) == [b"7"]  # ran once, not repeated


def test_the_events_command_shows_the_apps_subscribers_and_the_flows():
    env = {"MAILER_EVENT_MODULES": "tests.support.app_events", "MAILER_FLOWS": "post.published"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mailer")), "events"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for name in ("on_order_paid__record_payment", "on_post_published__email_post_to_subscribers"):
        assert name in done.stdout
    assert "not switched on (MAILER_FLOWS): appointment.created, user.registered" in done.stdout


def test_the_appointment_and_post_flows_through_a_worker(smtp_sink, start_worker):
    env = {
        **smtp_sink.env(),
        **SECRET,
        "MAILER_FROM": "Acme <hello@example.com>",
        "MAILER_PUBLIC_URL": "https://app.example",
        "MAILER_FLOWS": "appointment.created,post.published",
        "MAILER_ADMIN_USERS": "admin-1",
        "MAILER_USERS_SOURCE": "tests.support.users:all_user_ids",
        "MAILER_TEST_USER_COUNT": "25",
        "MAILER_NEWSLETTER_SOURCE": "tests.support.users:newsletter_subscribers",
    }
    start_worker(env)
    starts_at = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    booking = {"appointment_id": 4521, "email": "ann@example.com", "name": "Ann"}
    publish_from_another_process(
        env,
        "appointment.created",
        {**booking, "service": "Haircut", "starts_at": starts_at.isoformat()},
    )
    post = {"post_id": 9, "title": "Spring", "url": "https://example.com/p/9", "excerpt": "E"}
    publish_from_another_process(env, "post.published", post)

    received = smtp_sink.wait_for(4, timeout=30)  # one confirmation, three newsletters
    by_recipient = {tuple(r.rcpt_tos): r.message for r in received}
    assert "Haircut" in by_recipient[("ann@example.com",)]["Subject"]
    newsletters = [by_recipient[(f"reader{n}@example.com",)] for n in range(3)]
    assert all("List-Unsubscribe" in email for email in newsletters)
    reminder = scheduled_email("appointment:4521:reminder")
    assert reminder is not None and reminder.at == starts_at - timedelta(hours=24)
    assert wait_until(lambda: inbox.notifications("admin-1").items, 10)
    assert inbox.notifications("admin-1").items[0].title == "New appointment: Haircut with Ann"
    assert wait_until(lambda: all(inbox.unread_count(f"user-{n}") for n in range(25)), 20)
    assert inbox.notifications("user-7").items[0].title == "New post: Spring"
