"""The dashboard in a real browser, against a real worker: an operator finds a dead email,
reads why it died, sees it rendered, and replays it once the cause is fixed.

The dashboard runs as a platform would run it, ``mailer.web.app:app`` imported by a WSGI
server (waitress) in its own process, configured only by its environment.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from mailer import send_email
from mailer.stores import redis_client
from mailer.stores.delivery_log import DeliveryLog
from tests.integration.web.conftest import PASSWORD, USER
from tests.support.smtp_server import MAILBOX_UNAVAILABLE, SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

TIMEOUT_MS = 10_000


def _playwright_error() -> type[Exception]:
    try:
        from playwright.sync_api import Error
    except ImportError:  # the browser fixture fails the test, saying what to install
        return Exception
    return Error


PlaywrightError = _playwright_error()


def status_of(message_id: str) -> str | None:
    delivery = DeliveryLog(redis_client(os.environ["REDIS_URL"])).get(message_id)
    return delivery.status if delivery else None


def operator(browser: Any, **options: Any) -> Any:
    context = browser.new_context(
        http_credentials={"username": USER, "password": PASSWORD}, **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def test_find_a_dead_email_and_requeue_it_once_the_cause_is_fixed(
    browser: Any, dashboard_url: str, smtp_sink: SMTPSink, start_worker: Any
) -> None:
    smtp_sink.reject_all = MAILBOX_UNAVAILABLE
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": "Shop <shop@example.com>"})
    message_id = send_email("welcome", "Ann <ann@example.com>", {"name": "Ann", "app_name": "Acme"})
    assert wait_until(lambda: status_of(message_id) == "dead"), worker.log()
    page = operator(browser)

    page.goto(f"{dashboard_url}/deliveries")
    page.fill("input[name=to]", "ann@example.com")
    page.click("button:text('Search')")
    row = page.locator("#deliveries tr", has_text=message_id)
    assert row.locator(".status").inner_text() == "dead"
    assert "550" in row.inner_text() and "Mailbox unavailable" in row.inner_text()

    row.locator(f"a[href='/deliveries/{message_id}']").click()
    assert page.locator("#where").inner_text() == "dead letters"
    email = page.frame_locator("iframe.email")
    assert email.locator("h1").inner_text() == "Welcome, Ann!"
    assert "Mailbox unavailable" in page.locator("#attempts").inner_text()

    smtp_sink.reject_all = None
    page.click("#dead-letter-actions button:text('Requeue')")
    assert page.locator("#notice").inner_text().startswith("Requeued")
    assert wait_until(lambda: _shows_status(page, "sent"), timeout_s=20), worker.log()

    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["ann@example.com"]
    time.sleep(0.5)  # a duplicate delivery would have arrived by now
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.attempts == 2  # refused once, then accepted once
    assert page.locator("#where").count() == 0  # sent: Redis no longer holds the message,
    assert page.locator("#kept-label").is_visible()  # but the log shows what went out


def _shows_status(page: Any, status: str) -> bool:
    page.reload()
    return bool(page.locator("#record .status").inner_text() == status)


def test_without_credentials_the_browser_gets_a_401(browser: Any, dashboard_url: str) -> None:
    context = browser.new_context()
    challenges: list[tuple[int, str | None]] = []
    try:
        for path in ("/", "/deliveries", "/dead-letters", "/queues"):
            page = context.new_page()  # a fresh tab: a failed one goes on to an error page
            page.on(
                "response",
                lambda r: challenges.append((r.status, r.headers.get("www-authenticate"))),
            )
            # Headless, no one can answer the login prompt: the navigation fails.
            with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
                page.goto(f"{dashboard_url}{path}")
        assert challenges == [(401, 'Basic realm="mailer"')] * 4
        assert context.new_page().goto(f"{dashboard_url}/healthz").status == 200
    finally:
        context.close()
