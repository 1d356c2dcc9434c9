"""send_email through a real ``dramatiq`` worker and the suite's Redis into a local SendGrid API.

The fake API runs in this process and records every request the worker makes, so each test
asserts on the JSON SendGrid would have received, its credentials, and how many requests one
message cost.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from mailer import send_email
from tests.support.queues import dead_letters
from tests.support.sendgrid_server import SendGridServer
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

API_KEY = "SG.test-key-0123456789"
SENDER = "Shop <shop@example.com>"
WELCOME = {"name": "Ann", "app_name": "Acme"}
TERMS = b"%PDF-1.4 terms \x00\xff"
# Fast retries back off 400 ms at most, so a retry that was going to happen has by then.
SETTLE_S = 1.5


def worker_env(api: SendGridServer, api_key: str = API_KEY) -> dict[str, str]:
    return {
        "MAILER_BACKEND": "sendgrid",
        "MAILER_SENDGRID_HOST": api.host,
        "SENDGRID_API_KEY": api_key,
        "MAILER_FROM": SENDER,
    }


def send_welcome(**options: Any) -> str:
    return send_email(
        "welcome", "Ann Example <ann@example.com>", WELCOME, from_email=SENDER, **options
    )


def test_posts_the_rendered_email_as_sendgrid_json(sendgrid_api, start_worker):
    sendgrid_api.api_key = API_KEY
    worker = start_worker(worker_env(sendgrid_api))

    message_id = send_welcome(
        cc="Cy Copy <cy@example.com>",
        bcc="audit@example.net",
        headers={"X-Campaign": "spring-2026"},
        attachments=[("terms.pdf", TERMS, "application/pdf")],
    )

    [request] = sendgrid_api.wait_for_requests(1)
    assert request.authorization == f"Bearer {API_KEY}", worker.log()
    assert len(sendgrid_api.message_ids) == 1
    body = request.body
    assert body["personalizations"] == [
        {
            "to": [{"email": "ann@example.com", "name": "Ann Example"}],
            "cc": [{"email": "cy@example.com", "name": "Cy Copy"}],
            "bcc": [{"email": "audit@example.net"}],
        }
    ]
    assert body["from"] == {"email": "shop@example.com", "name": "Shop"}
    assert body["subject"] == "Welcome to Acme, Ann"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert all("Welcome, Ann!" in part["value"] for part in body["content"])
    [attachment] = body["attachments"]
    assert attachment["filename"] == "terms.pdf"
    assert attachment["type"] == "application/pdf"
    assert base64.b64decode(attachment["content"]) == TERMS
    assert body["headers"] == {
        "X-Campaign": "spring-2026",
        "Message-ID": f"<{message_id}@example.com>",
    }
    assert "welcome" in body["categories"]


def test_a_server_error_is_retried_and_delivered_once(sendgrid_api, start_worker, redis_url):
    sendgrid_api.script([(500, {}, {"errors": [{"message": "Internal error", "field": None}]})])
    worker = start_worker(worker_env(sendgrid_api))

    send_welcome()

    first, second = sendgrid_api.wait_for_requests(2)
    time.sleep(SETTLE_S)
    assert len(sendgrid_api.requests) == 2, worker.log()
    assert len(sendgrid_api.message_ids) == 1
    # The retry is the same message: same body, same Message-ID for the recipient to dedupe.
    assert second.body == first.body
    assert dead_letters(redis_url) == []


def test_a_rejected_api_key_is_dead_lettered_after_one_request(
    sendgrid_api, start_worker, redis_url
):
    sendgrid_api.api_key = API_KEY
    worker = start_worker(worker_env(sendgrid_api, api_key="SG.revoked-key"))

    message_id = send_welcome()

    assert wait_until(lambda: len(dead_letters(redis_url)) == 1), worker.log()
    time.sleep(SETTLE_S)
    [request] = sendgrid_api.requests
    assert request.authorization == "Bearer SG.revoked-key"
    assert sendgrid_api.message_ids == []
    [letter] = dead_letters(redis_url)
    assert letter["message_id"] == message_id
    assert letter["actor_name"] == "send_welcome"
    assert letter["options"].get("retries", 0) == 0
    assert "SG.revoked-key" not in worker.log()
