"""A real ``dramatiq mailer.actors`` worker: idle, its consumers block on the wake streams and
take every priority level's email; killed while blocked, it loses nothing; under a backlog,
a critical email still goes first."""

from __future__ import annotations

import collections

import pytest
import redis

from mailer import send_email
from mailer.priorities import LEVELS
from tests.support.outage import received_ids
from tests.support.smtp_server import SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"
WELCOME = {"name": "Ann", "app_name": "Acme"}
NEWS = {"title": "Hello", "url": "https://example.com/p/1", "excerpt": "First post"}
RESET = {"name": "Ann", "reset_url": "https://example.com/r/1"}
#: A worker process's consumers: one per priority queue and one per its delay queue.
CONSUMERS = 2 * len(LEVELS)


def blocked_clients(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.info("clients")["blocked_clients"])
    finally:
        client.close()


def send_on_every_level(prefix: str) -> dict[str, str]:
    return {
        send_email("welcome", f"{prefix}-{level}@example.com", WELCOME, priority=level): level
        for level in LEVELS
    }


def test_an_idle_worker_blocks_and_takes_an_email_on_every_level(
    smtp_sink: SMTPSink, start_worker, redis_url
):
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER})
    assert wait_until(lambda: blocked_clients(redis_url) >= CONSUMERS), worker.log()

    sent = send_on_every_level("idle")

    assert wait_until(lambda: set(received_ids(smtp_sink)) >= set(sent)), worker.log()
    assert received_ids(smtp_sink) == collections.Counter(list(sent))


def test_a_worker_killed_while_its_consumers_block_loses_nothing(
    smtp_sink: SMTPSink, start_worker, redis_url
):
    env = {**smtp_sink.env(), "MAILER_FROM": SENDER}
    doomed = start_worker(env)
    assert wait_until(lambda: blocked_clients(redis_url) >= CONSUMERS), doomed.log()
    doomed.kill()

    sent = send_on_every_level("after-kill")
    survivor = start_worker(env)

    assert wait_until(lambda: set(received_ids(smtp_sink)) >= set(sent), 30), survivor.log()
    assert received_ids(smtp_sink) == collections.Counter(list(sent))


def test_a_critical_email_overtakes_a_backlog_of_low_ones(
    smtp_sink: SMTPSink, start_worker, redis_url
):
    """One thread fetches two messages at a time; the critical email is fetched as soon as it
    lands and taken next by the thread, so at most the two low ones already fetched and the
    one being sent go before it, whatever the machine's speed."""
    smtp_sink.data_delay_s = 0.05
    backlog = [send_email("new_post", f"low{n}@example.com", NEWS) for n in range(40)]
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER}, threads=1)
    assert wait_until(lambda: len(smtp_sink.messages) >= 3, 30), worker.log()

    delivered_before = len(smtp_sink.messages)
    critical = send_email("password_reset", "ann@example.com", RESET)

    assert wait_until(lambda: critical in received_ids(smtp_sink), 30), worker.log()
    order = list(received_ids(smtp_sink))
    assert order.index(critical) <= delivered_before + 3
    assert wait_until(lambda: len(smtp_sink.messages) == len(backlog) + 1, 60), worker.log()
