"""What a worker shares between emails, and batches into one call, seen from outside: a real
``dramatiq mailer.actors`` process, a real Redis and a real SMTP server (plain, pipelining,
timed out by the kernel). Recipients whose names have the same length share the marked
render and the quoted lines, yet each gets exactly their own email; a sent email's settle is
one script call."""

from __future__ import annotations

import pytest
import redis

from mailer import send_email
from mailer.templates import BUNDLED_DIR, Templates
from tests.integration.worker.test_raw_bytes import check_wire_format
from tests.support.smtp_server import SMTPSink

pytestmark = pytest.mark.integration

SAME_LENGTH = [f"User {n}" for n in range(10, 40)]  # one marked context for them all
OTHERS = ["Zoë Łukasiewicz", "Bo"]
#: Script calls per email, all processes together: the producer's enqueue, an idle
#: consumer's fetch, the gate, the settle, and a share of the queued records (4.6 here). One
#: call per script in the settle (receipt, log, circuit, ack, writes) would make it over 8.
MAX_SCRIPT_CALLS_PER_EMAIL = 5


def test_each_recipient_gets_their_own_email_from_the_shared_work(
    smtp_sink: SMTPSink, start_worker, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": "Shop <shop@example.com>"})
    send_email("welcome", to="warm@example.com", context=context("Warm Up"))  # scripts loaded
    assert len(smtp_sink.wait_for(1)) == 1, worker.log()
    client.config_resetstat()

    names = SAME_LENGTH + OTHERS
    sent = {
        send_email("welcome", to=f"r{i}@example.com", context=context(name)): name
        for i, name in enumerate(names)
    }
    received = smtp_sink.wait_for(1 + len(names), timeout=60)
    assert len(received) == 1 + len(names), worker.log()

    stats = client.info("commandstats")
    scripts = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
    assert scripts / len(names) <= MAX_SCRIPT_CALLS_PER_EMAIL, stats

    full = Templates([BUNDLED_DIR], share_rendering=False)
    for message in received[1:]:
        parsed = check_wire_format(message.raw)
        name = sent[parsed["Message-ID"].strip("<>").partition("@")[0]]
        own = full.render("welcome", context(name))  # rendered in full, nothing shared
        text, html = parsed.iter_parts()
        assert html.get_content().replace("\r\n", "\n") == own.html.removesuffix("\n") + "\n"
        assert text.get_content().replace("\r\n", "\n") == own.text + "\n"
        assert html["Content-Transfer-Encoding"] == "quoted-printable"  # not ASCII: a preheader
        ascii_text = own.text.isascii()
        assert text["Content-Transfer-Encoding"] == ("7bit" if ascii_text else "quoted-printable")
    client.close()


def context(name: str) -> dict[str, str]:
    return {**Templates([BUNDLED_DIR]).sample_context("welcome"), "name": name}
