"""The MIME a backend sends, parsed back with the standard ``email`` package."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone
from email.message import EmailMessage

from mailer.envelope import Attachment, Email


def parse(message: Email) -> EmailMessage:
    raw = message.to_mime(now=datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def sample(**overrides: object) -> Email:
    values: dict[str, object] = {
        "to": ['"Zoë, Ann" <ann@example.com>'],
        "cc": ["bob@example.com"],
        "bcc": ["hidden@example.com"],
        "reply_to": ["Support <support@example.com>"],
        "from_email": "Café Shop <shop@example.com>",
        "subject": "Grüße — your order ✓",
        "text": "Hello Zoë,\nthanks.",
        "html": "<p>Hello Zoë, thanks.</p>",
        "headers": {"X-Campaign": "autumn"},
        "message_id": "0a1b2c3d-0000-4000-8000-000000000001",
    }
    values.update(overrides)
    return Email(**values)  # type: ignore[arg-type]


def test_text_and_html_are_alternatives():
    parsed = parse(sample())
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content_charset() == "utf-8"
    assert text.get_content().replace("\r\n", "\n") == "Hello Zoë,\nthanks.\n"
    assert html.get_content_type() == "text/html"
    assert "Hello Zoë" in html.get_content()


def test_attachments_make_the_message_mixed():
    pdf = Attachment("invoice €.pdf", b"%PDF-1.4 \x00\xff binary", "application/pdf")
    parsed = parse(
        sample(attachments=[pdf, Attachment("notes.txt", "héllo".encode(), "text/plain")])
    )
    assert parsed.get_content_type() == "multipart/mixed"
    body, *attachments = parsed.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert [part.get_filename() for part in attachments] == ["invoice €.pdf", "notes.txt"]
    assert attachments[0].get_content() == b"%PDF-1.4 \x00\xff binary"
    assert attachments[0].get_content_disposition() == "attachment"


def test_headers_encode_utf8_display_names_and_subject():
    parsed = parse(sample())
    to = parsed["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == ("Zoë, Ann", "ann@example.com")
    assert parsed["From"].addresses[0].display_name == "Café Shop"
    assert parsed["Subject"] == "Grüße — your order ✓"
    assert parsed["Reply-To"].addresses[0].addr_spec == "support@example.com"
    assert parsed["X-Campaign"] == "autumn"
    raw_headers = sample().to_mime().as_bytes().split(b"\r\n\r\n")[0]
    assert raw_headers.isascii(), "non-ASCII must be RFC 2047 encoded"


def test_bcc_stays_out_of_the_headers_but_in_the_envelope():
    message = sample()
    parsed = parse(message)
    assert parsed["Bcc"] is None
    assert message.recipients == ["ann@example.com", "bob@example.com", "hidden@example.com"]


def test_message_id_and_date_are_set_and_stable_across_retries():
    first, second = parse(sample()), parse(sample())
    assert first["Message-ID"] == "<0a1b2c3d-0000-4000-8000-000000000001@example.com>"
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Date"].datetime == datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
    assert parse(sample(message_id=None))["Message-ID"].endswith("@example.com>")


def test_html_only_still_has_a_text_part():
    parsed = parse(sample(text="", html="<p>x</p>"))
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_json_round_trip_keeps_everything():
    message = sample(
        attachments=[Attachment("a.bin", bytes(range(256)), "application/octet-stream")]
    )
    assert Email.from_json(message.to_json()) == message


def test_lines_end_in_crlf_as_smtp_requires():
    raw = sample().to_mime().as_bytes()
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
