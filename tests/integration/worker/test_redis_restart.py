"""A Redis restart while a real worker drains a backlog loses no email.

Redis runs with the append-only file fsynced on every write, is killed (SIGKILL: no final
save) while the worker sends, stays down for eight seconds and comes back from its AOF. Every
queued email must reach the SMTP server, and end ``sent`` in the delivery log.

The duplicate bound is the README's "Sending once": a send the provider accepted writes its
receipt as soon as Redis answers again, the worker waiting for it, and the one window that
remains needs the worker to die before Redis is back. This worker lives on, so no email may
arrive twice.

A Redis that dies between running a command and answering it leaves the effect without the
answer. For Dramatiq's fetch that is a message moved to a live worker's unacked set that the
worker never got; a delay-queue consumer that loses its connection also drops the delayed
messages it held. Either way the message waits in that set until the worker's heartbeat
stops, which for a live worker is never. The last test puts a message in that state directly,
then restarts Redis so the worker's consumers fail and start over, as they did.
"""

from __future__ import annotations

import time
import uuid

import dramatiq
import pytest
import redis

import mailer.actors
from mailer.actors import emails
from mailer.envelope import Email
from tests.support.api_process import call_api
from tests.support.outage import log_excerpt, received_ids, statuses, whereabouts
from tests.support.queues import dead_letters
from tests.support.redis_server import AOFRedis
from tests.support.smtp_server import SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

EMAILS = 600
THREADS = 8
OUTAGE_S = 8.0
SENDER = "Shop <shop@example.com>"
HEARTBEATS = "dramatiq:__heartbeats__"  # each live worker's id, as Dramatiq's Redis broker keeps it


def queue_emails(redis_url: str) -> list[str]:
    """Half account checks (critical queue), half welcomes (high queue), each its own id."""
    calls = []
    for n in range(EMAILS):
        if n % 2:
            context = {"name": f"User {n}", "verify_url": f"https://example.com/v/{n}"}
            calls.append(("send_email", ("verify_email", f"user{n}@example.com", context), {}))
        else:
            context = {"name": f"User {n}", "app_name": "Acme"}
            calls.append(("send_email", ("welcome", f"user{n}@example.com", context), {}))
    return [str(message_id) for message_id in call_api(redis_url, calls)]


def test_a_redis_restart_mid_backlog_loses_no_email(
    aof_redis: AOFRedis, smtp_sink: SMTPSink, start_worker
) -> None:
    smtp_sink.data_delay_s = 0.02  # a provider's pace: the outage finds sends in flight
    message_ids = queue_emails(aof_redis.url)
    env = {**smtp_sink.env(), "REDIS_URL": aof_redis.url, "MAILER_FROM": SENDER}
    worker = start_worker(env, threads=THREADS)

    assert wait_until(lambda: len(smtp_sink.messages) >= EMAILS // 6, 60), worker.log()
    aof_redis.kill()
    time.sleep(OUTAGE_S)
    aof_redis.start()

    def missing() -> set[str]:
        return set(message_ids) - set(received_ids(smtp_sink))

    wait_until(lambda: not missing(), 120, interval_s=0.5)
    lost = sorted(missing())
    assert lost == [], (
        f"{len(lost)} lost: {whereabouts(aof_redis.url, lost)}, "
        f"{statuses(aof_redis.url, lost)}\n" + log_excerpt(worker.log(), lost[:3])
    )
    received = received_ids(smtp_sink)
    sent_twice = sorted(m for m, count in received.items() if count > 1)
    assert sent_twice == [], log_excerpt(worker.log(), sent_twice[:3])

    def unsettled() -> dict[str, str | None]:
        return {m: s for m, s in statuses(aof_redis.url, message_ids).items() if s != "sent"}

    wait_until(lambda: not unsettled(), 20, interval_s=1.0)
    left = unsettled()
    assert left == {}, log_excerpt(worker.log(), list(left)[:3])
    assert dead_letters(aof_redis.url) == []


def fetched_without_answer(client: redis.Redis, worker_id: str, queue_name: str) -> str:
    """Enqueue a verify_email message and fetch it for ``worker_id`` in one transaction, as
    the worker's own fetch would, and drop the answer: the message id."""
    redis_id = str(uuid.uuid4())
    options: dict[str, object] = {"redis_message_id": redis_id}
    if queue_name.endswith(".DQ"):
        options["eta"] = int(time.time() * 1000)
    envelope = Email(to=["ann@example.com"], from_email="", tags=["verify_email"]).to_json()
    context = {"name": "Ann", "verify_url": "https://example.com/v/1"}
    actor = emails.lookup("verify_email").actor
    message = actor.message(envelope, context).copy(queue_name=queue_name, options=options)
    broker = dramatiq.get_broker()
    assert broker is mailer.actors.broker
    dispatch = broker.scripts["dispatch"]
    with client.pipeline(transaction=True) as pipe:
        for command, args in (("enqueue", [redis_id, message.encode()]), ("fetch", [1])):
            now_ms = int(time.time() * 1000)
            head = [command, now_ms, queue_name, worker_id, 60_000, 86_400_000, 0, 1000]
            dispatch(keys=[broker.namespace], args=[*head, *args], client=pipe)
        pipe.execute()
    return str(message.message_id)


@pytest.mark.parametrize("queue_name", ["mailer_critical", "mailer_critical.DQ"])
def test_a_message_fetched_for_a_live_worker_that_never_got_it_is_sent(
    queue_name: str, aof_redis: AOFRedis, smtp_sink: SMTPSink, start_worker
) -> None:
    env = {**smtp_sink.env(), "REDIS_URL": aof_redis.url, "MAILER_FROM": SENDER}
    worker = start_worker(env)
    client = redis.Redis.from_url(aof_redis.url)
    try:
        assert wait_until(lambda: client.zcard("dramatiq:__heartbeats__") > 0)
        [worker_id] = [
            member.decode() for member in client.zrange("dramatiq:__heartbeats__", 0, -1)
        ]
        message_id = fetched_without_answer(client, worker_id, queue_name)
    finally:
        client.close()
    # The answer was lost because Redis died: the worker's consumers fail and start over.
    aof_redis.kill()
    time.sleep(2.0)
    aof_redis.start()

    arrived = wait_until(lambda: message_id in received_ids(smtp_sink), 30, interval_s=0.5)
    assert arrived, f"{whereabouts(aof_redis.url, [message_id])}\n{log_excerpt(worker.log())}"
