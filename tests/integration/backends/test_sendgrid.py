"""The SendGrid backend against a local HTTP server speaking the v3 Mail Send API."""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from mailer.backends.sendgrid import SendGridBackend
from mailer.envelope import Attachment, Email
from mailer.errors import ConfigurationError, PermanentSendError, Throttled, TransientSendError
from mailer.settings import Settings
from tests.support.sendgrid_server import UNAUTHORIZED_BODY, SendGridServer

pytestmark = pytest.mark.integration

API_KEY = "SG.test-key-0123456789"
SENDER = "Shop <shop@example.com>"


@pytest.fixture
def backend(sendgrid_api: SendGridServer) -> Iterator[SendGridBackend]:
    settings = Settings(
        backend="sendgrid",
        from_email=SENDER,
        sendgrid_api_key=API_KEY,
        sendgrid_host=sendgrid_api.host,
    )
    with SendGridBackend(settings) as opened:
        assert isinstance(opened, SendGridBackend)
        yield opened


def an_email(**overrides: Any) -> Email:
    values: dict[str, Any] = {
        "to": ["Ann <ann@example.org>"],
        "from_email": SENDER,
        "subject": "Your order",
        "text": "Thanks!",
    }
    return Email(**(values | overrides))


def test_posts_the_v3_payload_with_bearer_key(
    backend: SendGridBackend, sendgrid_api: SendGridServer
) -> None:
    email = an_email(
        to=["Ann <ann@example.org>", "bob@example.org"],
        cc=["cc@example.org"],
        bcc=["audit@example.org", "ann@example.org"],  # Ann is already in To
        reply_to=["Support <help@example.com>"],
        html="<p>Thanks!</p>",
        headers={"X-Campaign": "spring"},
        attachments=[Attachment("receipt.pdf", b"%PDF-1.4 \x00\xff", "application/pdf")],
        tags=["orders", "receipts"],
        metadata={"order_id": "1234"},
        message_id="abc123",
    )
    provider_id = backend.send(email)

    [request] = sendgrid_api.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.authorization == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert provider_id == sendgrid_api.message_ids[0]
    assert request.body == {
        "personalizations": [
            {
                "to": [{"email": "ann@example.org", "name": "Ann"}, {"email": "bob@example.org"}],
                "cc": [{"email": "cc@example.org"}],
                "bcc": [{"email": "audit@example.org"}],
            }
        ],
        "from": {"email": "shop@example.com", "name": "Shop"},
        "reply_to": {"email": "help@example.com", "name": "Support"},
        "subject": "Your order",
        "content": [
            {"type": "text/plain", "value": "Thanks!"},
            {"type": "text/html", "value": "<p>Thanks!</p>"},
        ],
        "attachments": [
            {
                "content": base64.b64encode(b"%PDF-1.4 \x00\xff").decode(),
                "filename": "receipt.pdf",
                "type": "application/pdf",
                "disposition": "attachment",
            }
        ],
        "headers": {"X-Campaign": "spring", "Message-ID": "<abc123@example.com>"},
        "categories": ["orders", "receipts"],
        "custom_args": {"order_id": "1234", "mailer_message_id": "abc123"},
    }


def test_several_reply_to_go_in_a_list_and_html_alone_is_fine(
    backend: SendGridBackend, sendgrid_api: SendGridServer
) -> None:
    backend.send(
        an_email(text="", html="<p>Hi</p>", reply_to=["a@example.com", "B <b@example.com>"])
    )
    body = sendgrid_api.requests[0].body
    assert body["reply_to_list"] == [
        {"email": "a@example.com"},
        {"email": "b@example.com", "name": "B"},
    ]
    assert "reply_to" not in body
    assert body["content"] == [{"type": "text/html", "value": "<p>Hi</p>"}]
    assert not {"attachments", "headers", "categories", "custom_args"} & body.keys()


def test_only_ten_categories_are_sent(
    backend: SendGridBackend, sendgrid_api: SendGridServer
) -> None:
    backend.send(an_email(tags=[f"t{n}" for n in range(12)]))
    assert sendgrid_api.requests[0].body["categories"] == [f"t{n}" for n in range(10)]


def test_scripted_failures_then_success(
    backend: SendGridBackend, sendgrid_api: SendGridServer
) -> None:
    busy = {"errors": [{"message": "too many requests", "field": None}]}
    sendgrid_api.script([(429, {"Retry-After": "2"}, busy), (500, {}, b"")])
    with pytest.raises(Throttled) as throttled:
        backend.send(an_email())
    assert (throttled.value.status, throttled.value.retry_after_s) == (429, 2.0)
    assert throttled.value.detail == "too many requests"
    with pytest.raises(TransientSendError) as failed:
        backend.send(an_email())
    assert not isinstance(failed.value, Throttled)
    assert failed.value.status == 500
    assert backend.send(an_email())
    assert len(sendgrid_api.requests) == 3


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"Retry-After": "HTTP-DATE"}, 25.0, 30.0),
        ({"X-RateLimit-Reset": "EPOCH"}, 40.0, 45.0),
        ({}, None, None),
    ],
)
def test_throttled_hint_from_date_or_reset_header(
    backend: SendGridBackend,
    sendgrid_api: SendGridServer,
    headers: dict[str, str],
    low: float | None,
    high: float | None,
) -> None:
    now = datetime.now(timezone.utc)
    values = {
        "HTTP-DATE": format_datetime(now + timedelta(seconds=30), usegmt=True),
        "EPOCH": str(int(time.time()) + 45),
    }
    sendgrid_api.script([(429, {k: values[v] for k, v in headers.items()}, b"")])
    with pytest.raises(Throttled) as caught:
        backend.send(an_email())
    if low is None:
        assert caught.value.retry_after_s is None
    else:
        assert low <= (caught.value.retry_after_s or 0) <= high


def test_bad_key_is_permanent_and_never_shown(
    backend: SendGridBackend, sendgrid_api: SendGridServer
) -> None:
    sendgrid_api.api_key = "SG.the-right-key"
    with pytest.raises(PermanentSendError) as caught:
        backend.send(an_email())
    assert caught.value.status == 401
    assert caught.value.detail == UNAUTHORIZED_BODY["errors"][0]["message"]
    shown = [str(caught.value), repr(caught.value), str(caught.value.__cause__)]
    shown += [str(caught.value.__cause__.__context__)] if caught.value.__cause__ else []
    assert not any(API_KEY in text or "Bearer" in text for text in shown)


@pytest.mark.parametrize("status", [400, 403, 413])
def test_client_errors_are_permanent_with_sendgrid_messages(
    backend: SendGridBackend, sendgrid_api: SendGridServer, status: int
) -> None:
    errors = [
        {"message": "The from object must be provided.", "field": "from", "help": None},
        {"message": "Invalid type.", "field": "personalizations.0.to", "help": None},
    ]
    sendgrid_api.script([(status, {}, {"errors": errors})])
    with pytest.raises(PermanentSendError) as caught:
        backend.send(an_email())
    assert caught.value.status == status
    assert caught.value.detail == "The from object must be provided.; Invalid type."


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = SendGridBackend(
        Settings(
            from_email=SENDER, sendgrid_api_key=API_KEY, sendgrid_host=f"http://127.0.0.1:{port}"
        )
    )
    with backend, pytest.raises(TransientSendError) as caught:
        backend.send(an_email())
    assert caught.value.backend == "sendgrid"
    assert API_KEY not in str(caught.value)


def test_debug_logging_never_shows_the_key(
    backend: SendGridBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        backend.send(an_email())
    assert "POST Request" in caplog.text  # the SDK did log, just not the headers
    assert API_KEY not in caplog.text


def test_check_settings_requires_api_key_and_sender() -> None:
    with pytest.raises(ConfigurationError) as caught:
        SendGridBackend.check_settings(Settings(from_email=SENDER))
    assert caught.value.variable == "SENDGRID_API_KEY"
    with pytest.raises(ConfigurationError) as caught:
        SendGridBackend.check_settings(Settings(sendgrid_api_key=API_KEY))
    assert caught.value.variable == "MAILER_FROM"
    SendGridBackend.check_settings(Settings(from_email=SENDER, sendgrid_api_key=API_KEY))
