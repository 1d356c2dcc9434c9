"""The operator's pages beyond the log: charts, workers, schedules, suppressions, events, the
raw queues under mailer's navigation, and a sent email shown again with credentials masked."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from mailer import stores
from mailer.actors import broker, emails
from mailer.api.rendered import rendered_message
from mailer.envelope import Email
from mailer.masking import MASK
from mailer.settings import Settings
from mailer.stores.delivery_log import Attempt
from mailer.stores.event_log import EventLog
from mailer.stores.scripts import Batch
from mailer.stores.workers import register
from mailer.templates import BUNDLED_DIR, Templates
from tests.support.dashboard_client import Client

RESET = {"name": "Ann", "reset_url": "https://example.com/reset/secret-token"}


def test_the_overview_charts_the_last_hour_and_links_failing_types(
    client: Client, dashboard_settings: Settings
) -> None:
    log = stores.for_settings(dashboard_settings).delivery_log
    for status in ("sent", "sent", "dead"):
        log.settled(f"id-{time.time_ns()}", "welcome", status, Attempt(time.time(), status))
    page = client.get("/").body
    assert page.count("<svg") == 3  # per minute, per hour, queue depths
    assert re.search(r"<title>\d\d:\d\d: 2 sent</title>", page)
    assert re.search(r"<title>\d\d:\d\d: 1 dead</title>", page)
    assert '<a href="/dead-letters?template=welcome">welcome</a>' in page
    assert '<script src="/static/live.js" defer></script>' in page
    fragment = client.get("/live")
    assert fragment.status == 200 and "<nav" not in fragment.body and "<svg" in fragment.body
    script = client.get("/static/live.js")
    assert (
        script.header(
            "Content-Type",
        )
        == "text/javascript; charset=utf-8"
    )
    assert "fetch(" in script.body
    assert client.get("/static/../app.py").status == 404


def test_only_workers_with_a_live_heartbeat_are_listed(client: Client) -> None:
    beats = f"{broker.namespace}:__heartbeats__"
    now_ms = time.time() * 1000
    broker.client.zadd(
        beats, {"alive-worker": now_ms, "gone-worker": 1000, "a-web-process": now_ms}
    )
    register(broker.client, "alive-worker")
    register(broker.client, "gone-worker")
    broker.client.sadd(f"{broker.namespace}:__acks__.alive-worker.mailer_critical", "m1", "m2")
    workers = re.search(r'<table id="workers">(.*?)</table>', client.get("/live").body, re.S)
    assert workers is not None
    assert "alive-wo" in workers[1] and "gone-wor" not in workers[1]
    assert "a-web-pr" not in workers[1]  # its heartbeat is alive, but it only enqueues
    assert '<td class="n">2</td>' in workers[1]


def test_a_schedule_is_filtered_and_cancelled(client: Client, dashboard_settings: Settings) -> None:
    schedules = stores.for_settings(dashboard_settings).schedules
    at = datetime.now(timezone.utc) + timedelta(days=1)
    for key in ("reminder:1", "reminder:2", "digest:1"):
        message = emails.welcome.actor.message({"to": [f"{key}@example.com"]}, {"name": "A"})
        schedules.put(key, at, message)
    listing = client.get("/schedules?key=reminder%3A").body
    assert "reminder:1" in listing and "reminder:2" in listing and "digest:1" not in listing
    form = {"key": "reminder:2", "csrf_token": client.csrf_token}
    assert client.post("/schedules/cancel", form).status == 303
    assert schedules.get("reminder:2") is None and schedules.get("reminder:1") is not None
    assert "Cancelled" in client.get("/schedules?done=cancelled").body
    assert client.post("/schedules/cancel", {"key": "reminder:1"}).status == 403  # no token


def test_a_suppression_is_found_added_and_removed_with_a_reason(
    client: Client, dashboard_settings: Settings
) -> None:
    suppression = stores.for_settings(dashboard_settings).suppression
    suppression.add(["ann@example.com", "bob@example.org"], "unsubscribed")
    by_domain = client.get("/suppressions?q=%40example.org").body
    assert "bob@example.org" in by_domain and "ann@example.com" not in by_domain
    client.get("/suppressions")
    token = client.csrf_token
    added = client.post(
        "/suppressions/add",
        {"address": "Cy <cy@example.com>", "reason": "complained", "csrf_token": token},
    )
    assert added.status == 303 and suppression.get("cy@example.com") is not None
    refused = client.post(
        "/suppressions/remove", {"address": "ann@example.com", "reason": " ", "csrf_token": token}
    )
    assert refused.status == 400 and suppression.get("ann@example.com") is not None
    form = {"address": "ann@example.com", "reason": "asked by phone", "csrf_token": token}
    assert client.post("/suppressions/remove", form).status == 303
    assert suppression.get("ann@example.com") is None
    changes = re.search(
        r'<table id="changes">(.*?)</table>', client.get("/suppressions").body, re.S
    )
    assert changes is not None and "asked by phone" in changes[1] and "ops" in changes[1]
    bad = client.post(
        "/suppressions/add", {"address": "not an address", "reason": "manual", "csrf_token": token}
    )
    assert bad.status == 400 and "Not an address" in bad.body


def test_events_show_each_subscribers_outcome(client: Client, dashboard_settings: Settings) -> None:
    log = EventLog(stores.for_settings(dashboard_settings).client)
    log.published(
        "ev1",
        "user.registered",
        time.time(),
        {"email": "a@b.c"},
        [("welcome", "m1"), ("crm", "m2")],
    )
    log.outcome("ev1", "welcome", "m1", "done")
    log.outcome("ev1", "crm", "m2", "retrying", "TimeoutError: crm down")
    listing = client.get("/events").body
    assert "user.registered" in listing and 'href="/events/ev1"' in listing
    detail = client.get("/events/ev1").body
    assert "crm down" in detail and "status-done" in detail and "status-retrying" in detail
    assert client.get("/events/nope").status == 404


def test_the_raw_queues_carry_mailers_navigation(client: Client) -> None:
    raw = client.get("/queues")
    assert raw.status == 200
    assert re.search(r'<body>\s*<nav class="mailer-nav"', raw.body)
    assert '<a href="/"' in raw.body and "Queues (raw)" in raw.body
    assert int(raw.header("Content-Length") or 0) == len(raw.body.encode())
    assert '<a href="/queues"' in client.get("/").body


def _tried(settings: Settings, status: str, attempt: Attempt, message: Any = None) -> str:
    """A password reset (or ``message``) logged as a worker's try ends: its record and its
    kept content."""
    log = stores.for_settings(settings).delivery_log
    email = Email(to=["ann@example.com"], from_email="shop@example.com")
    message = message or emails.password_reset.actor.message(email.to_json(), RESET)
    batch = Batch(log.client)
    log.settled_into(batch, message.message_id, "password_reset", status, attempt, describe=message)
    log.content_into(batch, message.message_id, email, RESET, ["reset_url"])
    batch.execute()
    return message.message_id


def test_a_sent_email_is_shown_again_masked_and_says_when_its_template_changed(
    client: Client, dashboard_settings: Settings
) -> None:
    now = Templates((BUNDLED_DIR,)).fingerprint("password_reset")
    same, older = (
        _tried(dashboard_settings, "sent", Attempt(time.time(), "sent", template_sha=sha))
        for sha in (now, "0" * 16)
    )
    page = client.get(f"/deliveries/{same}").body
    assert "has not changed since" in page and "secret-token" not in page
    assert MASK in page and "ann@example.com" in page and "The email as sent" in page
    assert "has changed since" in client.get(f"/deliveries/{older}").body


def test_a_dead_email_shows_what_its_last_try_was_made_of(
    client: Client, dashboard_settings: Settings
) -> None:
    attempt = Attempt(time.time(), "failed", "console", error="550 no such user")
    message_id = _tried(dashboard_settings, "dead", attempt)
    page = client.get(f"/deliveries/{message_id}").body
    assert "The email as last tried" in page and 'id="kept-html"' in page
    assert "secret-token" not in page and MASK in page


def test_an_email_the_app_rendered_says_why_it_is_not_rendered_again(
    client: Client, dashboard_settings: Settings
) -> None:
    email = Email(to=["ann@example.com"], from_email="", subject="Hi", text="Hello")
    sent = Attempt(time.time(), "sent", "memory", "p1")
    message_id = _tried(dashboard_settings, "sent", sent, rendered_message(email))
    page = client.get(f"/deliveries/{message_id}").body
    assert "The email as sent" in page and "no email type of this name" in page
