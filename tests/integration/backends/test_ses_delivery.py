"""send_email through a real ``dramatiq`` worker and the suite's Redis into moto's SES server.

The worker reaches moto over HTTP as it would reach Amazon; what SES accepted is read back
from moto's ``/moto-api/data.json``: the raw MIME the backend handed over and its envelope.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from mailer import send_email
from tests.support.queues import dead_letters
from tests.support.ses_server import MotoSES
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"
WELCOME = {"name": "Ann", "app_name": "Acme"}
# Fast retries back off 400 ms at most, so a retry that was going to happen has by then.
SETTLE_S = 1.5
SEND_EMAIL_PATH = "POST /v2/email/outbound-emails "


def worker_env(ses: MotoSES) -> dict[str, str]:
    return {**ses.env(), "MAILER_FROM": SENDER}


def send_welcome(**options: Any) -> str:
    return send_email(
        "welcome", "Ann Example <ann@example.com>", WELCOME, from_email=SENDER, **options
    )


def test_sends_the_raw_message_with_bcc_in_the_envelope_only(moto_ses, start_worker):
    moto_ses.verify("example.com")
    worker = start_worker(worker_env(moto_ses))

    message_id = send_welcome(
        bcc="audit@example.net",
        headers={"X-Campaign": "spring-2026"},
        attachments=[("terms.pdf", b"%PDF-1.4 terms", "application/pdf")],
    )

    [sent] = moto_ses.wait_for_messages(1)
    assert sent.source == "shop@example.com", worker.log()
    # moto lists the request's destinations, then adds the To/Cc it finds in the headers.
    assert {"ann@example.com", "audit@example.net"} <= set(sent.destinations)
    assert "Subject: Welcome to Acme, Ann" in sent.raw_data
    assert "audit@example.net" not in sent.raw_data
    mime = sent.mime
    assert mime["Subject"] == "Welcome to Acme, Ann"
    assert mime["X-Campaign"] == "spring-2026"
    assert mime["Message-ID"] == f"<{message_id}@example.com>"
    html = mime.get_body(("html",))
    assert html is not None and "Welcome, Ann!" in html.get_content()
    [attachment] = mime.iter_attachments()
    assert attachment.get_filename() == "terms.pdf"
    assert attachment.get_content() == b"%PDF-1.4 terms"


def test_an_unverified_sender_is_dead_lettered_without_retry(
    moto_ses, start_worker, redis_url, caplog
):
    caplog.set_level(logging.INFO, logger="werkzeug")  # moto's server logs each request
    worker = start_worker(worker_env(moto_ses))

    message_id = send_welcome()

    assert wait_until(lambda: len(dead_letters(redis_url)) == 1), worker.log()
    time.sleep(SETTLE_S)
    [letter] = dead_letters(redis_url)
    assert letter["message_id"] == message_id
    assert letter["actor_name"] == "send_welcome"
    assert letter["options"].get("retries", 0) == 0
    assert moto_ses.sent_messages() == []
    assert send_requests(caplog) == 1


def send_requests(caplog: pytest.LogCaptureFixture) -> int:
    """SendEmail calls moto answered, failed ones included, from its request log."""
    return sum(SEND_EMAIL_PATH in record.getMessage() for record in caplog.records)
