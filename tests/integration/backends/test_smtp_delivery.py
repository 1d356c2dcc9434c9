"""send_email through a real ``dramatiq`` worker and the suite's Redis into aiosmtpd.

The test process only enqueues; a worker process renders and sends over TCP to the sink
running in this process, and each test asserts on what the server saw: the message, how many
times it was attempted, how many connections carried it, and what was dead-lettered.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from mailer import send_email
from tests.support.queues import dead_letters
from tests.support.smtp_server import MAILBOX_UNAVAILABLE, SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"
USERNAME, PASSWORD = "shop-mailer", "s3cret-Pa55"
WELCOME = {"name": "Ann", "app_name": "Acme"}
# Fast retries back off 400 ms at most, so a retry that was going to happen has by then.
SETTLE_S = 1.5


def worker_env(sink: SMTPSink) -> dict[str, str]:
    return {**sink.env(), "MAILER_FROM": SENDER}


def send_welcome(**options: Any) -> str:
    return send_email(
        "welcome", "Ann Example <ann@example.com>", WELCOME, from_email=SENDER, **options
    )


def test_delivers_a_rendered_email_after_logging_in(make_smtp_sink, start_worker):
    sink = make_smtp_sink(username=USERNAME, password=PASSWORD)
    worker = start_worker(worker_env(sink))

    message_id = send_welcome(
        cc="Cy Copy <cy@example.com>",
        bcc="audit@example.com",
        attachments=[("terms.pdf", b"%PDF-1.4 terms", "application/pdf")],
    )

    [received] = sink.wait_for(1)
    message = received.message
    assert received.login == USERNAME, worker.log()
    assert received.mail_from == "shop@example.com"
    assert received.rcpt_tos == ["ann@example.com", "cy@example.com", "audit@example.com"]
    assert message["Subject"] == "Welcome to Acme, Ann"
    assert message["From"] == SENDER
    assert message["To"] == "Ann Example <ann@example.com>"
    assert message["Cc"] == "Cy Copy <cy@example.com>"
    assert message["Bcc"] is None and b"audit@example.com" not in received.raw
    assert message["Message-ID"] == f"<{message_id}@example.com>"
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and "Welcome, Ann!" in html.get_content()
    assert text is not None and "Welcome, Ann!" in text.get_content()
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "terms.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1.4 terms"
    assert PASSWORD not in worker.log()


def test_a_temporary_failure_is_retried_until_delivered_exactly_once(
    smtp_sink, start_worker, redis_url
):
    smtp_sink.script(["451 4.3.0 Try again later"] * 2)
    worker = start_worker(worker_env(smtp_sink))

    message_id = send_welcome()

    [received] = smtp_sink.wait_for(1)
    time.sleep(SETTLE_S)
    assert len(smtp_sink.messages) == 1, worker.log()
    assert smtp_sink.attempts == 3
    assert received.message["Message-ID"] == f"<{message_id}@example.com>"
    assert dead_letters(redis_url) == []


def test_a_permanent_failure_is_dead_lettered_after_one_attempt(smtp_sink, start_worker, redis_url):
    smtp_sink.reject_all = MAILBOX_UNAVAILABLE
    worker = start_worker(worker_env(smtp_sink))

    message_id = send_welcome()

    assert wait_until(lambda: len(dead_letters(redis_url)) == 1), worker.log()
    time.sleep(SETTLE_S)
    assert smtp_sink.attempts == 1
    assert smtp_sink.messages == []
    [letter] = dead_letters(redis_url)
    assert letter["message_id"] == message_id
    assert letter["actor_name"] == "send_welcome"
    assert letter["options"].get("retries", 0) == 0
    # The reason reaches the log; the message's contents (recipient, context) do not.
    log = worker.log()
    assert (
        f"Failed welcome message {message_id}, attempt 1 of 9, will not be retried: smtp 550" in log
    )
    assert "Mailbox unavailable" in log
    assert f"send_welcome[{message_id}]" in log
    assert "ann@example.com" not in log and "Acme" not in log


def test_one_worker_thread_sends_every_message_on_one_connection(smtp_sink, start_worker):
    start_worker(worker_env(smtp_sink), threads=1)

    message_ids = {send_welcome() for _ in range(10)}

    received = smtp_sink.wait_for(10)
    assert {r.message["Message-ID"] for r in received} == {
        f"<{message_id}@example.com>" for message_id in message_ids
    }
    assert smtp_sink.connections == 1
