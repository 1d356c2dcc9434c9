"""A worker stopped the way a platform stops one: SIGTERM to every process, SIGKILL 30 s later.

Nothing it held may be lost, left for the 60 s heartbeat timeout, or sent twice: a send its
provider had been handed when the shutdown timeout ran out is given the rest of its own send
deadline to finish (see ``mailer.middleware.shutdown``). The last tests drive
the middleware through a worker in this process, to stop a thread exactly where it matters.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from mailer import send_email, settings, stores
from mailer.middleware.log_deliveries import LogDeliveries
from mailer.middleware.shutdown import HandBackOnShutdown, _requeue_prefetched
from mailer.worker import state
from tests.support.queues import dead_letters
from tests.support.smtp_server import SMTPSink
from tests.support.worker import WorkerProcess, wait_until

pytestmark = pytest.mark.integration

WELCOME = {"name": "Ann", "app_name": "Acme"}
SENDER = "Shop <shop@example.com>"
EMAILS = 200
PROCESSES, THREADS = 2, 25  # 50 sends in flight at once
IN_FLIGHT = PROCESSES * THREADS
SUCCESSOR_THREADS = 50  # per process: the rest go out in two rounds of the server's delay
#: Dramatiq's default, left as it is: what a message left behind would wait for.
HEARTBEAT_TIMEOUT_S = 60
SHUTDOWN_TIMEOUT_MS = "25000"  # as in the Procfile
HANDED_BACK = re.compile(r"Put back message (\S+) \(send_welcome\), still running at the shutdown")


def queue_emails(count: int) -> list[str]:
    return [send_email("welcome", f"user{n}@example.com", WELCOME) for n in range(count)]


def received(sink: SMTPSink) -> collections.Counter[str]:
    """How often the server accepted each message id (the Message-ID's local part)."""
    return collections.Counter(
        r.message["Message-ID"].strip("<>").split("@")[0] for r in sink.messages
    )


def stop_like_a_platform(worker: WorkerProcess) -> None:
    """SIGTERM to every process, as Heroku stops a dyno; the ``dramatiq`` parent then passes
    its own on, so each worker process gets two. The children go first and the parent 50 ms
    later, so the two never arrive together and merge into one, as on a platform they may not.
    """
    children = _children(worker.process.pid)
    assert len(children) == PROCESSES, children
    for pid in children:
        os.kill(pid, signal.SIGTERM)
    time.sleep(0.05)
    worker.process.send_signal(signal.SIGTERM)


def _children(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def held_back(redis_url: str) -> list[str]:
    """What a dead worker leaves for the heartbeat timeout: unacked messages, send claims."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = client.keys("dramatiq:__acks__.*") + client.keys("mailer:sending:*")
        return sorted(bytes(key).decode() for key in keys)
    finally:
        client.close()


def test_a_platform_stop_mid_batch_sends_every_email_exactly_once_and_soon(
    smtp_sink, start_worker, redis_url
):
    smtp_sink.data_delay_s = 1.0
    env = {**smtp_sink.env(), "MAILER_FROM": SENDER}
    message_ids = queue_emails(EMAILS)
    stopping = start_worker(
        env,
        processes=PROCESSES,
        threads=THREADS,
        extra_args=("--worker-shutdown-timeout", SHUTDOWN_TIMEOUT_MS),
    )
    # The first sends are in; the next 50 are with the server, each for up to a second.
    assert wait_until(lambda: len(smtp_sink.messages) >= IN_FLIGHT, 15), stopping.log()

    stopped_at = time.monotonic()
    stop_like_a_platform(stopping)
    assert stopping.process.wait(timeout=10) == 0, stopping.log()
    assert "Killing worker process" not in stopping.log()
    assert not HANDED_BACK.search(stopping.log())  # every send under way finished in time
    assert held_back(redis_url) == []

    start_worker(env, processes=PROCESSES, threads=SUCCESSOR_THREADS)
    assert wait_until(lambda: set(received(smtp_sink)) >= set(message_ids), 30)
    took_s = time.monotonic() - stopped_at
    assert received(smtp_sink) == collections.Counter(message_ids)  # each exactly once
    assert dead_letters(redis_url) == []
    assert took_s < HEARTBEAT_TIMEOUT_S / 3, took_s


def test_sends_in_the_servers_hands_at_the_deadline_finish_there_and_go_once(
    smtp_sink, start_worker, redis_url
):
    """The server takes 3 s over each message; the worker takes up to 1 s to notice the signal
    and 1 s to stop, so the 50 sends in flight are all in the server's hands at the deadline.
    Each provider call is given the rest of its own send deadline (10 s) to finish, so none is
    cut off there: each is answered, its receipt written, its message acked, and the server
    gets every email once."""
    smtp_sink.data_delay_s = 3.0
    env = {**smtp_sink.env(), "MAILER_FROM": SENDER}
    message_ids = queue_emails(EMAILS)
    stopping = start_worker(
        env,
        processes=PROCESSES,
        threads=THREADS,
        extra_args=("--worker-shutdown-timeout", "1000"),
    )
    assert wait_until(lambda: smtp_sink.connections >= IN_FLIGHT, 15), stopping.log()
    time.sleep(0.5)  # every thread has sent its message and awaits the answer

    stopped_at = time.monotonic()
    stop_like_a_platform(stopping)
    assert stopping.process.wait(timeout=15) == 0, stopping.log()
    assert not HANDED_BACK.search(stopping.log())
    assert len(smtp_sink.messages) >= IN_FLIGHT  # answered before the process exited
    assert held_back(redis_url) == []

    smtp_sink.data_delay_s = 0.0  # the rest need not wait to show that each goes once
    start_worker(env, processes=PROCESSES, threads=SUCCESSOR_THREADS)
    assert wait_until(lambda: set(received(smtp_sink)) >= set(message_ids), 30)
    took_s = time.monotonic() - stopped_at
    assert received(smtp_sink) == collections.Counter(message_ids)
    assert dead_letters(redis_url) == []
    assert took_s < HEARTBEAT_TIMEOUT_S / 2, took_s


def test_the_broker_hands_back_what_it_holds_on_shutdown():
    from mailer.actors import broker

    assert HandBackOnShutdown in [type(middleware) for middleware in broker.middleware]


# --- a worker in this process, its thread stopped where it matters ---------------------------


@dataclass
class Held:
    """An email actor whose sends stop until ``release`` is set, before or inside the call."""

    actor: dramatiq.Actor[[int], None]
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    sent: list[int] = field(default_factory=list)


@pytest.fixture
def redis_broker(redis_url: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=redis_url, middleware=dramatiq_defaults())
    for middleware in (CurrentMessage(), LogDeliveries(), HandBackOnShutdown()):
        broker.add_middleware(middleware)
    yield broker
    broker.client.connection_pool.disconnect()  # the broker's own close leaves it


@pytest.fixture
def held_actor(redis_broker: RedisBroker) -> Callable[..., Held]:
    def declare(*, inside_call: bool) -> Held:
        def send_held(n: int) -> None:
            message = CurrentMessage.get_current_message()
            assert message is not None
            send = state.start(message.message_id, "held")
            send.claim, _ = stores.for_settings(settings.current()).receipts.claim(
                message.message_id
            )  # as the send's gate claims it
            try:
                if not inside_call:
                    held.started.set()
                    held.release.wait(10)
                with state.provider_call(send):
                    if inside_call:
                        held.started.set()
                        held.release.wait(10)
                    held.sent.append(n)
            finally:
                state.finish()

        actor = dramatiq.actor(
            send_held,
            broker=redis_broker,
            queue_name="mailer_normal",
            max_retries=0,
            sends_email=True,
        )
        held = Held(actor)
        return held

    return declare


def dramatiq_defaults() -> list[dramatiq.Middleware]:
    return [m() for m in dramatiq.middleware.default_middleware if m.__name__ != "Prometheus"]


def queue_state(redis_url: str, message_id: str) -> dict[str, int]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {
            "queued": client.llen("dramatiq:mailer_normal"),
            "unacked": sum(client.scard(key) for key in client.keys("dramatiq:__acks__.*")),
            "claimed": client.exists(f"mailer:sending:{message_id}"),
        }
    finally:
        client.close()


def test_messages_fetched_but_not_started_go_back_as_the_shutdown_begins(
    redis_broker, held_actor, redis_url
):
    held = held_actor(inside_call=False)
    first, *_ = [held.actor.send(n) for n in range(4)]
    worker = Worker(redis_broker, worker_threads=1, worker_timeout=100)  # fetches 2 at a time
    worker.start()
    assert held.started.wait(5)
    assert queue_state(redis_url, first.message_id)["queued"] == 2
    stopping = threading.Thread(target=worker.stop, kwargs={"timeout": 5_000})
    stopping.start()
    try:
        # The first still runs, and the one fetched to run next is free for another worker.
        assert wait_until(lambda: queue_state(redis_url, first.message_id)["queued"] == 3)
        assert wait_until(lambda: not worker.workers[0].running)  # told to take no more
    finally:
        held.release.set()
        stopping.join(10)
    assert len(held.sent) == 1  # only the one that had started ran


def send_and_start(broker: RedisBroker, held: Any) -> tuple[dramatiq.Message[Any], Worker]:
    """One held message, and a one-thread worker that has started on it."""
    message = held.actor.send(7)
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    assert held.started.wait(5)
    return message, worker


def test_a_message_handed_back_at_the_deadline_is_not_sent_by_its_old_thread(
    redis_broker, held_actor, redis_url, caplog
):
    held = held_actor(inside_call=False)
    message, worker = send_and_start(redis_broker, held)
    assert queue_state(redis_url, message.message_id)["claimed"]

    worker.stop(timeout=200)  # the deadline passes with the thread still running
    assert queue_state(redis_url, message.message_id) == {"queued": 1, "unacked": 0, "claimed": 0}
    assert f"Put back message {message.message_id} (send_held)" in caplog.text
    assert "before any provider call" in caplog.text

    held.release.set()  # the old thread goes on, reaches the provider call, and stops there
    worker.workers[0].join(5)
    assert held.sent == []
    assert queue_state(redis_url, message.message_id)["queued"] == 1

    successor = Worker(redis_broker, worker_threads=1, worker_timeout=100)
    successor.start()
    try:
        assert wait_until(lambda: held.sent == [7], 5)
    finally:
        successor.stop()


def test_a_send_in_the_providers_hands_at_the_deadline_is_waited_for(
    redis_broker, held_actor, redis_url, caplog
):
    held = held_actor(inside_call=True)
    message, worker = send_and_start(redis_broker, held)

    answer = threading.Timer(0.5, held.release.set)  # the provider answers after the deadline
    answer.start()
    worker.stop(timeout=200)
    assert held.sent == [7]
    state_now = queue_state(redis_url, message.message_id)
    assert (state_now["queued"], state_now["unacked"]) == (0, 0)  # acked, not put back
    assert "Put back message" not in caplog.text


def test_a_send_past_its_own_deadline_is_handed_back_and_named(
    redis_broker, held_actor, redis_url, caplog
):
    configured = settings.current()
    settings.configure(dataclasses.replace(configured, send_deadline_s=0.1))
    try:
        held = held_actor(inside_call=True)
        message, worker = send_and_start(redis_broker, held)
        worker.stop(timeout=200)  # waits the send's deadline and the margin, then hands back
    finally:
        settings.configure(configured)
        held.release.set()
    worker.workers[0].join(5)
    assert queue_state(redis_url, message.message_id) == {"queued": 1, "unacked": 0, "claimed": 0}
    assert f"Put back message {message.message_id} (send_held)" in caplog.text
    assert "in a provider call past its deadline: if the provider accepts it" in caplog.text


def test_a_consumers_prefetched_batch_goes_back_when_it_stops(redis_url):
    """Dramatiq's Redis consumer moves a whole batch to the worker's unacked set, hands it out
    one by one, and closes without putting back what it had not handed out yet."""
    broker = RedisBroker(url=redis_url, middleware=dramatiq_defaults())
    queue = "mailer_shutdown_test"
    broker.declare_queue(queue)
    for n in range(3):
        broker.enqueue(dramatiq.Message(queue, "noop", (n,), {}, {}))
    consumer = broker.consume(queue, prefetch=5, timeout=100)
    first = next(consumer)  # fetched all three; two wait in the consumer's cache
    worker = type("Stopped", (), {"consumers": {queue: type("T", (), {"consumer": consumer})}})
    client = redis.Redis.from_url(redis_url)
    try:
        _requeue_prefetched(worker)  # type: ignore[arg-type]
        unacked = client.smembers(f"dramatiq:__acks__.{broker.broker_id}.{queue}")
        assert unacked == {first.options["redis_message_id"].encode()}
        assert client.llen(f"dramatiq:{queue}") == 2
    finally:
        client.delete(f"dramatiq:{queue}", f"dramatiq:{queue}.msgs")
        client.close()
        broker.close()
