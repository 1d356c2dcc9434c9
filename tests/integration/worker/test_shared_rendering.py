"""Welcome emails to many people, sent by a real worker that shares their rendering work:
each arrives with the HTML and text that rendering it alone, in full, gives."""

from __future__ import annotations

import pytest

from mailer import send_email
from mailer.templates import BUNDLED_DIR, Templates
from tests.support.smtp_server import SMTPSink

pytestmark = pytest.mark.integration

# Names of a few lengths, so most emails find their marked form done by an earlier one.
NAMES = [f"User {n}" for n in range(12)] + ["Zoë", "Ann Lee", "李小龙", "O'Neil & Co"]


def parts(message) -> tuple[str, str]:
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    return tuple(part.replace("\r\n", "\n").rstrip("\n") for part in (html, text))


def test_each_email_is_what_its_own_full_render_gives(smtp_sink: SMTPSink, start_worker):
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": "shop@example.com"})
    full = Templates([BUNDLED_DIR], share_rendering=False)
    contexts = {}
    for number, name in enumerate(NAMES):
        context = {**full.sample_context("welcome"), "name": name}
        contexts[f"user{number}@example.com"] = context
        send_email("welcome", f"user{number}@example.com", context)

    for received in smtp_sink.wait_for(len(NAMES)):
        [to] = received.rcpt_tos
        expected = full.render("welcome", contexts[to])
        assert parts(received.message) == (expected.html, expected.text), to
    # A sent email writes no line at the worker's default level: the delivery log has it.
    assert "Sent welcome" not in worker.log()
