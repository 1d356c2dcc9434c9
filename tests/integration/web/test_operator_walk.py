"""The operator's dashboard in a real browser, against a real worker and a real event.

A sign-up is published; its welcome email dies at the SMTP server. The operator sees it on
the overview's live chart, goes to the failing type, opens the dead message, requeues it once
the server is fixed, and watches the message page show the requeue and then ``sent`` with the
email's content. Then a scheduled email is cancelled and a suppression removed with a reason.

Each page is saved as a screenshot in ``MAILER_SCREENSHOTS_DIR`` (default: the test's own
temporary folder), so a change to the pages can be looked at, not only asserted on.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mailer import schedule_email, stores
from mailer.settings import current
from mailer.stores.suppression import SuppressionList
from tests.integration.actors.test_events import publish_from_another_process
from tests.integration.web.test_dashboard_browser import operator
from tests.support.smtp_server import MAILBOX_UNAVAILABLE, SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

FLOW_ENV = {
    "MAILER_SECRET_KEY": "k" * 40,
    "MAILER_FROM": "Acme <hello@example.com>",
    "MAILER_FLOWS": "user.registered",
    "MAILER_ADMIN_USERS": "admin-1",
}


@pytest.fixture
def shots(tmp_path: Path) -> Any:
    folder = Path(os.environ.get("MAILER_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def shoot(page: Any, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return shoot


def test_from_the_chart_to_a_requeued_email_then_a_cancel_and_a_removal(
    browser: Any, dashboard_url: str, smtp_sink: SMTPSink, start_worker: Any, shots: Any
) -> None:
    smtp_sink.reject_all = MAILBOX_UNAVAILABLE
    env = {**smtp_sink.env(), **FLOW_ENV}
    worker = start_worker(env)
    payload = {"user_id": 7, "email": "ann@example.com", "name": "Ann"}
    event_id = publish_from_another_process(env, "user.registered", payload)
    assert wait_until(lambda: _dead_ids(), timeout_s=20), worker.log()
    [message_id] = _dead_ids()
    # Tall enough that the email's frame is painted in full-page screenshots: Chromium leaves
    # an out-of-process frame below the viewport blank.
    page = operator(browser, viewport={"width": 1280, "height": 2000})

    # The overview's chart shows the dead email, and keeps itself current.
    page.goto(f"{dashboard_url}/?refresh=1")
    first = page.locator("#live-updated").inner_text()
    # The page's own script re-fetches the fragment; the page's policy lets nothing else run.
    assert wait_until(lambda: page.locator("#live-updated").inner_text() != first, 10)
    assert page.locator("#per-minute rect title", has_text="1 dead").count() == 1
    # One worker process: neither the publishing process nor the dashboard counts as one.
    assert page.locator("#workers tr").count() == 2
    shots(page, "1-overview")

    # ... to the failing type's dead letters, and its dead message.
    page.click("#failing-types a:text('welcome')")
    assert page.url.endswith("/dead-letters?template=welcome")
    shots(page, "2-failing-type")
    page.click(f"#dead-letters a:text('{message_id}')")
    assert page.locator("#where").inner_text() == "dead letters"
    assert "Mailbox unavailable" in page.locator("#attempts").inner_text()
    assert page.frame_locator("#kept-html").locator("h1").inner_text().startswith("Welcome")
    shots(page, "3-dead-message")

    # Requeued once the server is fixed: the history shows the requeue, then the send.
    smtp_sink.reject_all = None
    page.click("#dead-letter-actions button:text('Requeue')")
    assert page.locator("#notice").inner_text().startswith("Requeued")
    assert wait_until(lambda: _shows_status(page, "sent"), timeout_s=20), worker.log()
    outcomes = page.locator("#attempts .status").all_inner_texts()
    assert outcomes == ["failed", "requeued", "sent"]
    assert "has not changed since" in page.locator("#kept-label").inner_text()
    assert page.frame_locator("#kept-html").locator("h1").inner_text().startswith("Welcome")
    assert "Ann" in page.locator("#kept-subject").inner_text()
    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["ann@example.com"]
    shots(page, "4-sent-message")

    # The event that started it, with its subscribers' outcomes.
    page.goto(f"{dashboard_url}/events/{event_id}")
    assert "done" in page.locator("#subscribers").inner_text()
    shots(page, "5-event")
    page.goto(f"{dashboard_url}/events")
    shots(page, "5-events")

    _cancel_a_schedule(page, dashboard_url, shots)
    _remove_a_suppression(page, dashboard_url, shots)
    page.goto(f"{dashboard_url}/queues")
    assert page.locator("nav.mailer-nav a:text('Overview')").count() == 1
    shots(page, "8-raw-queues")


def _cancel_a_schedule(page: Any, dashboard_url: str, shots: Any) -> None:
    at = datetime.now(timezone.utc) + timedelta(days=2)
    for n in (1, 2):
        schedule_email("welcome", f"u{n}@example.com", {"name": f"U{n}"}, at=at, key=f"signup:{n}")
    page.goto(f"{dashboard_url}/schedules?key=signup%3A")
    shots(page, "6-schedules")
    page.locator("#schedules tr", has_text="signup:2").locator("button:text('Cancel')").click()
    assert page.locator("#notice").inner_text().startswith("Cancelled")
    keys = page.locator("#schedules").inner_text()
    assert "signup:1" in keys and "signup:2" not in keys
    shots(page, "6-schedules-after-cancel")


def _remove_a_suppression(page: Any, dashboard_url: str, shots: Any) -> None:
    suppression = SuppressionList(stores.for_settings(current()).client)
    suppression.add(["bob@example.com", "cy@example.org"], "unsubscribed")
    page.goto(f"{dashboard_url}/suppressions?q=bob")
    row = page.locator("#suppressions tr", has_text="bob@example.com")
    row.locator("input[name=reason]").fill("asked by phone to get news again")
    shots(page, "7-suppressions")
    row.locator("button:text('Remove')").click()
    assert page.locator("#notice").inner_text().startswith("Removed")
    assert suppression.get("bob@example.com") is None
    assert "asked by phone" in page.locator("#changes").inner_text()
    shots(page, "7-suppressions-after-removal")


def _dead_ids() -> list[str]:
    log = stores.for_settings(current()).delivery_log
    return [d.message_id for d in log.search(status="dead", limit=5)]


def _shows_status(page: Any, status: str) -> bool:
    page.reload()
    return bool(page.locator("#record .status").inner_text() == status)


def test_a_removal_without_a_reason_changes_nothing(browser: Any, dashboard_url: str) -> None:
    suppression = SuppressionList(stores.for_settings(current()).client)
    suppression.add(["dan@example.com"], "bounced")
    page = operator(browser)
    page.goto(f"{dashboard_url}/suppressions")
    row = page.locator("#suppressions tr", has_text="dan@example.com")
    row.locator("input[name=reason]").evaluate("input => input.removeAttribute('required')")
    row.locator("button:text('Remove')").click()
    assert re.search("say why", page.locator("#problem").inner_text(), re.I)
    assert suppression.get("dan@example.com") is not None
