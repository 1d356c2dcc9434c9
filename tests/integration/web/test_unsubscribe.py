"""Suppression end to end: the one-click link a worker puts in a newsletter, followed with the
mailbox provider's POST against the web process as deployed, a forged link refused, and a
hard bounce from the SMTP server putting its address on the list."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailer import (
    delivery_status,
    is_suppressed,
    search_deliveries,
    send_bulk,
    send_email,
    settings,
    stores,
)
from mailer.embedded_redis import free_port
from tests.support.ports import wait_for_port
from tests.support.worker import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration

POST = {"title": "Spring", "url": "https://example.com/p/1", "excerpt": "What is new."}
SECRET = "an unsubscribe secret of forty characters"
RESET = "https://example.com/reset?t=1"


@pytest.fixture
def web() -> Iterator[str]:
    """``mailer dashboard`` (the Procfile's web process) on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_DASHBOARD_USER": "ops",
        "MAILER_DASHBOARD_PASSWORD": "a long passphrase",
    }
    mailer = str(Path(sys.executable).with_name("mailer"))
    process = subprocess.Popen(
        [mailer, "dashboard", "--host", "127.0.0.1", f"--port={port}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(process, port, "mailer dashboard")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


def one_click(url: str) -> tuple[int, str]:
    """What Gmail sends: a POST of ``List-Unsubscribe=One-Click``, no cookies."""
    request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_the_link_in_a_newsletter_unsubscribes_and_a_forged_one_does_not(
    web, start_worker, tmp_path
):
    outbox = tmp_path / "outbox"
    env = {
        "MAILER_BACKEND": "file",
        "MAILER_OUTBOX_DIR": str(outbox),
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_PUBLIC_URL": web,
    }
    start_worker(env)
    send_bulk("new_post", ["ann@example.com", "bob@example.com"], POST)
    assert wait_until(lambda: len(list(outbox.glob("*.eml"))) == 2, 20)
    emails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox.iterdir()]
    [ann] = [email for email in emails if email["To"] == "ann@example.com"]
    link = ann["List-Unsubscribe"].strip("<>")
    assert ann["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    token = link.rsplit("/", 1)[1]
    forged = link.replace(token, "Ym9iQGV4YW1wbGUuY29t" + token[token.index(".") :])
    status, page = one_click(forged)  # ann's signature on bob's address
    assert status == 400 and "not valid" in page
    assert not is_suppressed("bob@example.com")

    status, page = one_click(link)
    assert status == 200 and "a**@example.com" in page
    assert is_suppressed("ann@example.com")

    send_bulk("new_post", ["ann@example.com", "bob@example.com"], POST)
    assert wait_until(lambda: len(list(outbox.glob("*.eml"))) == 3, 20)
    assert wait_until(lambda: search_deliveries(status="suppressed"), 10)
    [skipped] = search_deliveries(status="suppressed")
    assert skipped.to == ["ann@example.com"]
    time.sleep(0.5)
    assert len(list(outbox.glob("*.eml"))) == 3  # bob's second newsletter only


def test_a_hard_bounce_suppresses_the_address_for_news_only(smtp_sink, start_worker):
    smtp_sink.reject_recipient("gone@example.com")  # 550 5.1.1 to RCPT: the mailbox is gone
    start_worker({**smtp_sink.env(), "MAILER_FROM": "News <news@example.com>"})
    send_bulk("new_post", ["gone@example.com"], POST)
    assert wait_until(lambda: is_suppressed("gone@example.com"), 20)
    entry = stores.for_settings(settings.current()).suppression.get("gone@example.com")
    assert entry is not None and entry.reason == "bounced"

    send_bulk("new_post", ["gone@example.com", "ann@example.com"], POST)
    [news] = smtp_sink.wait_for(1)
    assert news.rcpt_tos == ["ann@example.com"]
    assert wait_until(lambda: search_deliveries(status="suppressed"), 10)
    # Transactional mail still tries the address: the server refuses it again, for good.
    reset = send_email("password_reset", "gone@example.com", {"name": "G", "reset_url": RESET})
    assert wait_until(lambda: getattr(delivery_status(reset), "status", None) == "dead", 10)
