"""Every shipped email type, sent by a real worker, checked byte by byte as the server got it.

A mailbox provider reads ``List-Unsubscribe`` as ``<URL>`` and nothing else; an encoded-word
there, a bare LF or a line over 998 octets makes a message that some servers refuse and
others misread. Each type goes through ``send_email`` and a worker into a real SMTP server;
the news type also through SES (moto) and SendGrid (the suite's stand-in), whose payloads
must carry the same headers.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from typing import Any

import pytest

from mailer import send_email
from mailer.actors.emails import EMAIL_TYPES
from mailer.templates import Templates
from mailer.templates.loader import BUNDLED_DIR
from tests.support.sendgrid_server import SendGridServer
from tests.support.ses_server import MotoSES
from tests.support.smtp_server import SMTPSink

pytestmark = pytest.mark.integration

SENDER = "Café Shop <shop@example.com>"
RECIPIENT = "Zoë Ann <ann@example.com>"
PUBLIC_URL = "https://app.example.com"
MAILTO = "unsubscribe@example.com"
NEWS_ENV = {
    "MAILER_FROM": SENDER,
    "MAILER_PUBLIC_URL": PUBLIC_URL,
    "MAILER_SECRET_KEY": "a test key of more than thirty-two characters",
    "MAILER_UNSUBSCRIBE_MAILTO": MAILTO,
}
SHIPPED = sorted(EMAIL_TYPES)
LIST_UNSUBSCRIBE = re.compile(
    rf"<{re.escape(PUBLIC_URL)}/unsubscribe/[\w.-]+>, "
    rf"<mailto:{re.escape(MAILTO)}\?subject=unsubscribe%20[\w.-]+>"
)


def context(name: str) -> dict[str, Any]:
    sample = Templates([BUNDLED_DIR]).sample_context(name)
    sample.pop("unsubscribe_url", None)  # the worker makes the recipient's own
    return sample


def unfolded_headers(raw: bytes) -> dict[str, str]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    lines = re.sub(rb"\r\n(?=[ \t])", b"", head).decode("utf-8").split("\r\n")
    return dict(line.split(": ", 1) for line in lines)


def check_wire_format(raw: bytes) -> EmailMessage:
    """CRLF only, no line over 998 octets, and a parse under ``strict`` with no defect."""
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare LF"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert raw.split(b"\r\n\r\n", 1)[0].isascii(), "non-ASCII headers need SMTPUTF8"
    parsed = email.message_from_bytes(raw, policy=email.policy.strict)
    assert isinstance(parsed, EmailMessage)
    assert [part.defects for part in parsed.walk()] == [[] for _ in parsed.walk()]
    return parsed


def check_news_headers(headers: dict[str, str]) -> None:
    assert LIST_UNSUBSCRIBE.fullmatch(headers["List-Unsubscribe"]), headers["List-Unsubscribe"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_every_shipped_type_is_byte_correct_over_smtp(smtp_sink: SMTPSink, start_worker):
    worker = start_worker({**smtp_sink.env(), **NEWS_ENV})
    ids = {send_email(name, RECIPIENT, context(name), from_email=SENDER): name for name in SHIPPED}

    received = smtp_sink.wait_for(len(SHIPPED))
    assert len(received) == len(SHIPPED), worker.log()
    for message in received:
        parsed = check_wire_format(message.raw)
        headers = unfolded_headers(message.raw)
        message_id = headers["Message-ID"]
        name = ids[message_id.strip("<>").partition("@")[0]]
        assert message_id == f"<{message_id.strip('<>').partition('@')[0]}@example.com>"
        assert parsed["From"].addresses[0].display_name == "Café Shop"
        assert (parsed["To"].addresses[0].display_name, parsed["To"].addresses[0].addr_spec) == (
            "Zoë Ann",
            "ann@example.com",
        )
        if EMAIL_TYPES[name].transactional:
            assert "List-Unsubscribe" not in headers, name
        else:
            check_news_headers(headers)


def test_ses_and_sendgrid_carry_the_same_headers(
    moto_ses: MotoSES, sendgrid_api: SendGridServer, start_worker
):
    moto_ses.verify("example.com")
    ses_worker = start_worker({**moto_ses.env(), **NEWS_ENV})
    send_email("new_post", RECIPIENT, context("new_post"), from_email=SENDER)
    [sent] = moto_ses.wait_for_messages(1)
    ses_worker.stop()
    raw = sent.raw_data.encode("utf-8")
    check_wire_format(raw)
    check_news_headers(unfolded_headers(raw))

    sendgrid_api.api_key = "SG.test-key-0123456789"
    env = {
        "MAILER_BACKEND": "sendgrid",
        "MAILER_SENDGRID_HOST": sendgrid_api.host,
        "SENDGRID_API_KEY": sendgrid_api.api_key,
    }
    start_worker({**env, **NEWS_ENV})
    message_id = send_email("new_post", RECIPIENT, context("new_post"), from_email=SENDER)
    [request] = sendgrid_api.wait_for_requests(1)
    headers = request.body["headers"]
    check_news_headers(headers)
    assert headers["Message-ID"] == f"<{message_id}@example.com>"
    assert request.body["from"] == {"email": "shop@example.com", "name": "Café Shop"}
