"""A worker's whole log, at DEBUG, names no recipient and no link it sent.

The worker goes through what makes Dramatiq and mailer log a message: a provider answering
451 to every email for a while (retries), recipients refused at ``RCPT`` (one email wholly,
one in part), and a Redis outage while messages are being processed and acked (Dramatiq's
"Failed to post_process_message(...)" lines). Every recipient address and every reset link
is unique to the run, so any line that carries one is a leak.
"""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from mailer.backends.smtp import SMTPBackend
from mailer.envelope import Email
from mailer.errors import PermanentSendError
from mailer.settings import Settings
from tests.support.api_process import call_api
from tests.support.outage import received_ids
from tests.support.redis_server import AOFRedis
from tests.support.smtp_server import SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

EMAILS = 30
OUTAGE_S = 4.0
TRY_LATER = "451 4.3.0 Try again later"
SENDER = "Shop <shop@example.com>"


def secrets_for(run: str) -> tuple[list[list[str]], list[str], list[str]]:
    """Recipients of each email, the addresses refused at RCPT, and each email's reset link."""
    recipients = [[f"reset-{run}-{n}@example.com"] for n in range(EMAILS)]
    refused = [f"gone-{run}-0@example.com", f"gone-{run}-1@example.com"]
    recipients[0] = [refused[0]]  # refused wholly: permanent, and its address bounced
    recipients[1] = [recipients[1][0], refused[1]]  # refused in part: sent, with a warning
    urls = [f"https://shop.example.com/reset/{run}-{n}" for n in range(EMAILS)]
    return recipients, refused, urls


def test_a_verbose_worker_log_names_no_recipient_and_no_link(
    aof_redis: AOFRedis, smtp_sink: SMTPSink, start_worker
) -> None:
    recipients, refused, urls = secrets_for(uuid.uuid4().hex)
    for address in refused:
        smtp_sink.reject_recipient(address)
    smtp_sink.reject_all = TRY_LATER
    smtp_sink.data_delay_s = 0.02
    env = {**smtp_sink.env(), "REDIS_URL": aof_redis.url, "MAILER_FROM": SENDER}
    worker = start_worker(env, threads=4, extra_args=("--verbose",))
    calls = [
        ("send_email", ("password_reset", to, {"name": "Ann", "reset_url": url}), {})
        for to, url in zip(recipients, urls, strict=True)
    ]
    message_ids = [str(m) for m in call_api(aof_redis.url, calls)]

    assert wait_until(lambda: smtp_sink.attempts >= 2 * EMAILS, 60), worker.log()
    aof_redis.kill()  # while messages are being sent, retried and acked
    smtp_sink.reject_all = None
    time.sleep(OUTAGE_S)
    aof_redis.start()
    wait_until(lambda: set(message_ids[1:]) <= set(received_ids(smtp_sink)), 30, 0.5)

    log = worker.log()
    leaks = {s for s in [*refused, *urls, *(a for to in recipients for a in to)] if s in log}
    assert leaks == set(), "\n".join(
        line for line in log.splitlines() if any(map(line.__contains__, leaks))
    )
    assert any(f"send_password_reset[{m}]" in log for m in message_ids), log


def test_the_smtp_backend_names_no_refused_recipient(
    smtp_sink: SMTPSink, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_sink.reject_recipient("gone@example.com", "550 5.1.1 <gone@example.com>: unknown")
    settings = Settings(
        backend="smtp",
        from_email=SENDER,
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_security="none",
    )
    email = Email(to=["ann@example.com", "gone@example.com"], from_email=SENDER, subject="Hi")

    with caplog.at_level(logging.DEBUG), SMTPBackend(settings) as backend:
        backend.send(email)
        with pytest.raises(PermanentSendError) as refused:
            backend.send(Email(to=["GONE@example.com"], from_email=SENDER, subject="Hi"))

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("mailer")]
    [warning] = [line for line in lines if "refused" in line]
    assert "refused 1 of 2 recipients" in warning
    assert "550 5.1.1 <***>: unknown" in warning
    assert not [line for line in lines if "gone@example.com" in line.lower()]
    assert (
        str(refused.value) == "smtp 550: every recipient was refused (1): 550 5.1.1 <***>: unknown"
    )
    assert refused.value.bounced == ("GONE@example.com",)
