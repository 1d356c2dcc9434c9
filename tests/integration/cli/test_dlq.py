"""``mailer dlq`` end to end: a real worker dead-letters an email, the command finds it and
sends it again, and the SMTP server receives it once.

The command runs as a process, as an operator runs it; exit status 0 is done, 1 is nothing
matched or Redis out of reach, 2 is arguments to fix, and none of them ends in a traceback.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import zlib

import pytest
import redis

from mailer import send_email, settings, stores
from mailer.embedded_redis import free_port
from tests.support.queues import dead_letters
from tests.support.smtp_server import SMTPSink
from tests.support.worker import REPO_ROOT, WorkerProcess, wait_until

pytestmark = pytest.mark.integration

WELCOME = {"name": "Ann", "app_name": "Acme"}
SENDER = "Shop <shop@example.com>"
REJECTED = "550 5.1.1 Mailbox unavailable"
LATER = "451 4.3.0 Try again later"


def mailer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mailer.cli`` with the suite's environment (its Redis) and ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "mailer.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,  # no terminal: nobody to ask
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(*args: str) -> str:
    result = mailer(*args)
    assert result.returncode == 0, result
    return result.stdout


def refused(code: int, *args: str, env: dict[str, str] | None = None) -> str:
    result = mailer(*args, env=env)
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def received(sink: SMTPSink) -> collections.Counter[str]:
    return collections.Counter(
        r.message["Message-ID"].strip("<>").split("@")[0] for r in sink.messages
    )


@pytest.fixture
def worker(smtp_sink: SMTPSink, start_worker) -> WorkerProcess:
    return start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER})


def dead(redis_url: str, count: int = 1) -> list[dict[str, object]]:
    assert wait_until(lambda: len(dead_letters(redis_url)) >= count, 20)
    return dead_letters(redis_url)


def status(message_id: str) -> str | None:
    delivery = stores.for_settings(settings.current()).delivery_log.get(message_id)
    return delivery.status if delivery is not None else None


def test_an_email_the_server_refused_is_found_fixed_and_sent_once(smtp_sink, worker, redis_url):
    smtp_sink.reject_all = REJECTED
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    other = send_email("welcome", "bob@example.com", WELCOME)
    dead(redis_url, 2)

    listed = ok("dlq", "list", "--to", "Ann@Example.com")
    assert message_id in listed and other not in listed
    assert "550" in listed and "1 shown, 2 dead in all" in listed
    [letter] = json.loads(ok("dlq", "list", "--to", "ann@example.com", "--json"))["dead_letters"]
    assert (letter["message_id"], letter["template"], letter["to"]) == (
        message_id,
        "welcome",
        ["ann@example.com"],
    )
    assert "Mailbox unavailable" in letter["error"] and letter["retries"] == 0
    shown = json.loads(ok("dlq", "show", message_id, "--json"))
    assert shown["envelope"]["to"] == ["ann@example.com"]
    assert "@" in shown["envelope"]["from_email"]  # resolved from MAILER_FROM, not ""
    assert "subject" not in shown["envelope"]  # the worker fills it: shown rendered instead
    assert shown["context"] == WELCOME
    assert shown["subject"] == "Welcome to Acme, Ann" and "Welcome, Ann!" in shown["html"]
    printed = ok("dlq", "show", message_id)
    assert "Mailbox unavailable" in printed and "Welcome, Ann!" in printed
    assert status(message_id) == "dead"

    smtp_sink.reject_all = None
    assert "requeued 1 dead letter(s)" in ok("dlq", "requeue", message_id)
    smtp_sink.wait_for(1)
    assert wait_until(lambda: status(message_id) == "sent")
    assert received(smtp_sink) == {message_id: 1}
    history = json.loads(ok("log", message_id, "--json"))[0]["attempts"]
    assert [a["outcome"] for a in history] == ["failed", "requeued", "sent"]
    found = ok("log", "--to", "ANN", "--status", "sent")  # an address prefix, any case
    assert message_id in found and other not in found and "1-1 of 1" in found
    assert other in ok("log", "--to", "@example.com", "--status", "dead")
    assert [m["message_id"] for m in dead_letters(redis_url)] == [other]
    refused(1, "dlq", "show", message_id)  # no longer dead


def test_a_requeued_email_gets_its_retries_back(smtp_sink, worker, redis_url):
    """It died having used all 8 retries; requeued, it fails once more and is retried, where
    a retry count left at 8 would have dead-lettered it again at once."""
    smtp_sink.reject_all = LATER
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    [letter] = dead(redis_url)
    assert letter["options"]["retries"] == 8

    smtp_sink.reject_all = None
    smtp_sink.script([LATER])
    assert "requeued 1 dead letter(s)" in ok("dlq", "requeue", "--template", "welcome", "--yes")
    smtp_sink.wait_for(1)
    assert wait_until(lambda: status(message_id) == "sent")
    assert received(smtp_sink) == {message_id: 1}
    history = json.loads(ok("log", message_id, "--json"))[0]["attempts"]
    assert [a["outcome"] for a in history] == ["failed"] * 9 + ["requeued", "failed", "sent"]
    assert dead_letters(redis_url) == []


def test_a_bulk_selection_is_acted_on_only_with_yes(smtp_sink, worker, redis_url):
    smtp_sink.reject_all = REJECTED
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    dead(redis_url)

    for action in ("requeue", "purge"):
        assert "add --yes" in refused(2, "dlq", action, "--all")
        assert "add --yes" in refused(2, "dlq", action, "--queue", "high")
    assert len(dead_letters(redis_url)) == 1

    assert "purged 1 dead letter(s)" in ok("dlq", "purge", "--error", "MAILBOX", "--yes")
    assert dead_letters(redis_url) == []
    assert status(message_id) == "failed"
    refused(1, "dlq", "requeue", "--all", "--yes")  # nothing left to match
    refused(1, "dlq", "list")


def test_wrong_arguments_exit_2_and_an_unreachable_redis_exits_1(redis_url):
    assert "only one" in refused(2, "dlq", "requeue")
    assert "only one" in refused(2, "dlq", "purge", "some-id", "--all")
    assert "only one" in refused(2, "dlq", "requeue", "--all", "--to", "ann@example.com")
    assert "--queue" in refused(2, "dlq", "list", "--queue", "urgent")
    assert "--limit" in refused(2, "dlq", "list", "--limit", "0")
    assert "no dead letter with the message id nope" in refused(1, "dlq", "show", "nope")

    nowhere = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    for args in (("list",), ("show", "nope"), ("requeue", "--all", "--yes")):
        stderr = refused(1, "dlq", *args, env=nowhere)
        assert stderr.startswith("mailer: could not") and stderr.count("\n") == 1, stderr
    assert redis.Redis.from_url(redis_url).ping()


def test_show_masks_a_sensitive_value_in_the_context_and_the_render(smtp_sink, worker, redis_url):
    smtp_sink.reject_all = REJECTED
    secret = "https://app.test/reset?token=s3cret-t0ken"
    context = {"name": "Ann", "app_name": "Acme", "reset_url": secret}
    message_id = send_email("password_reset", "ann@example.com", context)
    dead(redis_url)
    for printed in (ok("dlq", "show", message_id), ok("dlq", "show", message_id, "--json")):
        assert "s3cret" not in printed and "[masked]" in printed
    assert "s3cret" not in ok("log", message_id) + ok("log", message_id, "--json")
    assert "[masked]" in ok("log", message_id)
    # What the log keeps in Redis was masked before it was written.
    client = redis.Redis.from_url(redis_url)
    kept = client.get(f"mailer:log:message:{message_id}:content")
    assert kept is not None and b"s3cret" not in zlib.decompress(kept)
    record = client.hgetall(f"mailer:log:message:{message_id}")
    assert record and not any(b"s3cret" in value for value in record.values())
