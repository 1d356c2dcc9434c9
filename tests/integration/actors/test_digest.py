"""The failure digest through a real worker: an email refused for good is recorded, and the
digest sent by hand reaches the administrators naming the email, its recipient and the error."""

from __future__ import annotations

import pytest

from mailer import send_email
from mailer.actors import digest
from tests.support.queues import dead_letters
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"


def test_a_permanent_failure_reaches_the_administrators_in_the_digest(
    smtp_sink, start_worker, redis_url
):
    smtp_sink.reject_recipient("gone@example.com")
    env = {
        **smtp_sink.env(),
        "MAILER_FROM": SENDER,
        "MAILER_ADMIN_EMAILS": "ops@example.com, Cto <cto@example.com>",
    }
    worker = start_worker(env)

    message_id = send_email("welcome", "Gone <gone@example.com>", {"name": "Gone"})
    assert wait_until(lambda: len(dead_letters(redis_url)) == 1), worker.log()

    digest.send_failure_digest.send()
    [received] = smtp_sink.wait_for(1)
    alert = received.message
    assert received.rcpt_tos == ["ops@example.com", "cto@example.com"]
    assert alert["Subject"] == "[Admin alert] 1 email failed in the last 24 h"
    text = alert.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "welcome to Gone <gone@example.com>: smtp 550: every recipient was refused" in body
    assert "5.1.1 Mailbox unavailable" in body
    assert "Queued the failure digest" in worker.log()
    assert message_id not in body  # ids are for logs; the digest speaks of emails and people
