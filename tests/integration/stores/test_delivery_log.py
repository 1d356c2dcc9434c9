"""The delivery log through a real worker: ``mailer log`` answers "what happened to the email
for ann@example.com?", and ``/metrics`` counts what the log recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mailer import send_email
from mailer.stores import redis_client
from mailer.stores.delivery_log import DeliveryLog
from mailer.web import metrics
from tests.support.queues import dead_letters
from tests.support.worker import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration

WELCOME = {"name": "Ann", "app_name": "Acme"}


def mailer_log(*args: str) -> list[dict]:
    completed = subprocess.run(
        [sys.executable, "-m", "mailer.cli", "log", *args, "--json"],
        cwd=REPO_ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr
    return json.loads(completed.stdout)


def test_the_log_says_what_happened_to_each_email(smtp_sink, start_worker, redis_url):
    smtp_sink.reject_recipient("gone@example.com")
    worker = start_worker(
        {**smtp_sink.env(), "MAILER_FROM": "Shop <shop@example.com>", "MAILER_STATS_INTERVAL": "1"}
    )
    sent_id = send_email("welcome", "Ann <ann@example.com>", WELCOME)
    dead_id = send_email("welcome", "gone@example.com", WELCOME)
    assert wait_until(lambda: len(dead_letters(redis_url)) == 1), worker.log()
    smtp_sink.wait_for(1)

    [dead] = mailer_log("--to", "GONE@example.com")
    assert (dead["message_id"], dead["status"]) == (dead_id, "dead")
    assert "550" in dead["error"] and dead["attempts"][0]["backend"] == "smtp"

    [sent] = mailer_log(sent_id)
    assert sent["status"] == "sent" and sent["to"] == ["Ann <ann@example.com>"]
    [attempt] = sent["attempts"]
    assert attempt["outcome"] == "sent" and attempt["provider_id"]
    assert mailer_log("--status", "sent", "--template", "welcome")[0]["message_id"] == sent_id
    assert mailer_log("--to", "nobody@example.com") == []

    text = metrics.render(DeliveryLog(redis_client(redis_url))).decode()
    assert 'mailer_emails_total{backend="smtp",event="sent",template="welcome"} 1.0' in text
    assert 'mailer_emails_total{backend="smtp",event="dead",template="welcome"} 1.0' in text
    assert 'mailer_queue_messages{queue="mailer_high",state="dead"} 1.0' in text

    # The worker's periodic stats line counts what this process sent and failed.
    assert wait_until(lambda: "Stats: sent" in worker.log(), 5), worker.log()
    assert "high 0/0/1" in worker.log()
