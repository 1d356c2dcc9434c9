"""The global rate limit through real ``dramatiq mailer.actors`` workers, the suite's Redis and
the local SendGrid API, which stamps each request's arrival: what the provider would count."""

from __future__ import annotations

import collections
import json
import time
from typing import Any

import pytest
import redis

from mailer import send_email
from mailer.actors.emails import lookup
from tests.support.queues import NAMESPACE, dead_letters
from tests.support.sendgrid_server import RecordedRequest, SendGridServer
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

API_KEY = "SG.test-key-0123456789"
SENDER = "Shop <shop@example.com>"
WELCOME = {"name": "Ann", "app_name": "Acme"}
RESET = {"name": "Ann", "reset_url": "https://example.com/r/1"}
TOO_MANY = {"errors": [{"message": "Too many requests", "field": None}]}


def worker_env(api: SendGridServer, **extra: str) -> dict[str, str]:
    return {
        "MAILER_BACKEND": "sendgrid",
        "MAILER_SENDGRID_HOST": api.host,
        "SENDGRID_API_KEY": API_KEY,
        "MAILER_FROM": SENDER,
        **extra,
    }


def send_welcomes(count: int, prefix: str) -> list[str]:
    return [
        send_email("welcome", f"{prefix}{number}@example.com", WELCOME, from_email=SENDER)
        for number in range(count)
    ]


def recipient(request: RecordedRequest) -> str:
    return str(request.body["personalizations"][0]["to"][0]["email"])


def accepted(api: SendGridServer) -> list[RecordedRequest]:
    """The requests answered 202, one per ``X-Message-Id`` handed out, in order."""
    scripted = len(api.requests) - len(api.message_ids)
    return api.requests[scripted:] if scripted >= 0 else []


def busiest_second(requests: list[RecordedRequest]) -> int:
    """The most requests that arrived within any 1-s window."""
    times = sorted(request.received_at for request in requests)
    return max(sum(1 for later in times if start <= later < start + 1.0) for start in times)


def put_back_copies(client: redis.Redis, queue: str) -> dict[str, dict[str, Any]]:
    """The delayed copies waiting in Redis right now, by message id."""
    raw = client.hvals(f"{NAMESPACE}:{queue}.DQ.msgs")
    decoded = (json.loads(data) for data in raw)
    return {message["message_id"]: message for message in decoded}


def queue(email_type: str) -> str:
    return lookup(email_type).priority.queue_name


def test_a_backlog_goes_out_at_the_limit_and_waits_without_spending_retries(
    sendgrid_api, start_worker, redis_url
):
    limit, count = 5, 30
    message_ids = send_welcomes(count, "user")
    worker = start_worker(
        worker_env(sendgrid_api, MAILER_RATE_LIMIT=str(limit)), processes=2, threads=4
    )
    client = redis.Redis.from_url(redis_url)
    copies: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while len(sendgrid_api.message_ids) < count and time.monotonic() < deadline:
        copies.update(put_back_copies(client, queue("welcome")))
        time.sleep(0.05)
    client.close()

    sent = accepted(sendgrid_api)
    assert sorted(map(recipient, sent)) == sorted(f"user{n}@example.com" for n in range(count))
    assert len(sendgrid_api.requests) == count, "each email reached the provider once"
    assert busiest_second(sent) <= limit
    assert dead_letters(redis_url) == []
    # Put back: all but about three seconds' worth (the first burst, the turns of the slots
    # it frees, which come within a second and are slept off, and the line's first turns).
    assert set(copies) <= set(message_ids) and len(copies) >= count - 3 * limit
    assert all(copy["options"].get("retries", 0) == 0 for copy in copies.values())
    assert all(copy["options"]["deferrals"] >= 1 for copy in copies.values())
    assert f"Rate limits: all={limit}/s." in worker.log()
    assert "Put back message" in worker.log() and "rate limit all=5/s" in worker.log()


def test_a_provider_pause_holds_every_worker_then_each_email_goes_once(
    sendgrid_api, start_worker, redis_url
):
    """The process told to slow down sends critical mail only, the other one everything else,
    so the other one meets the pause through Redis alone."""
    sendgrid_api.script([(429, {"Retry-After": "2"}, TOO_MANY)])
    critical = start_worker(
        worker_env(sendgrid_api), extra_args=("--queues", queue("password_reset"))
    )
    others = start_worker(worker_env(sendgrid_api), extra_args=("--queues", queue("welcome")))
    send_email("password_reset", "ann@example.com", RESET, from_email=SENDER)
    [throttled] = sendgrid_api.wait_for_requests(1)
    assert wait_until(lambda: "Paused sendgrid for 2000 ms" in critical.log()), critical.log()
    send_welcomes(19, "later")

    assert wait_until(lambda: len(sendgrid_api.message_ids) == 20, timeout_s=30), others.log()
    time.sleep(0.5)  # long enough for a duplicate to show
    first_after_s = min(r.received_at for r in sendgrid_api.requests[1:]) - throttled.received_at
    assert first_after_s >= 2.0 - 0.005, "no process sent during the pause"
    assert "sendgrid paused by the provider" in others.log()
    received = collections.Counter(map(recipient, accepted(sendgrid_api)))
    assert set(received.values()) == {1} and len(received) == 20
    assert len(sendgrid_api.requests) == 21, "the throttled email went twice, the rest once"
    assert dead_letters(redis_url) == []
