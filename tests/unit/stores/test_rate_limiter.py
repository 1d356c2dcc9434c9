"""The global rate limit: its Redis mechanics against the suite's Redis, then the middleware on
a StubBroker with the memory backend."""

from __future__ import annotations

import dataclasses
import itertools
import random
import threading
import time
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq import Middleware

from mailer import send_email, settings
from mailer.backends import memory
from mailer.errors import Throttled
from mailer.stores import keys as store
from mailer.stores import redis_client
from mailer.stores.rate_limiter import RateLimiter
from tests.support.brokers import dead_letters, drain

HOLD_MS = 60_000


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def bucket() -> str:
    """A bucket no other test uses, so tests share the suite's Redis without flushing it."""
    return f"test-{uuid.uuid4().hex[:8]}"


def token() -> str:
    return uuid.uuid4().hex


def slots(bucket: str) -> str:
    return store.key("rate", "slots", bucket)


def lane() -> str:
    """A fresh lane: its refusals take no ticket behind an earlier refusal's."""
    return f"lane-{uuid.uuid4().hex[:8]}"


# --- RateLimiter -----------------------------------------------------------------------------


def test_grants_up_to_the_limit_then_says_how_long_to_wait(client, bucket):
    limiter = RateLimiter(client, {bucket: 5}, window_ms=1000)
    granted = [limiter.acquire([bucket], token(), lane="l") for _ in range(5)]
    wait_ms = limiter.acquire([bucket], token(), lane="l")
    assert granted == [0] * 5
    assert 0 < wait_ms <= 1000
    assert client.zcard(slots(bucket)) == 5


def test_a_slot_counts_until_a_window_after_its_release(client, bucket):
    limiter = RateLimiter(client, {bucket: 1}, window_ms=300, hold_ms=HOLD_MS)
    first = token()
    assert limiter.acquire([bucket], first, lane="l") == 0
    time.sleep(0.4)  # in flight for longer than a window: it still counts
    assert limiter.acquire([bucket], token(), lane=lane()) == 300
    limiter.release([bucket], first)
    (redis_s, redis_us) = client.time()
    assert client.zscore(slots(bucket), first) == pytest.approx(
        redis_s * 1000 + redis_us // 1000, abs=5
    )
    wait_ms = limiter.acquire([bucket], token(), lane=lane())
    assert 250 < wait_ms <= 300
    time.sleep(wait_ms / 1000)
    assert limiter.acquire([bucket], token(), lane=lane()) == 0


def test_the_slot_of_a_send_never_released_is_let_go_after_the_hold(client, bucket):
    limiter = RateLimiter(client, {bucket: 1}, window_ms=100, hold_ms=200)
    assert limiter.acquire([bucket], token(), lane="l") == 0
    assert limiter.acquire([bucket], token(), lane=lane()) > 0
    time.sleep(0.35)
    assert limiter.acquire([bucket], token(), lane=lane()) == 0


def test_a_pause_blocks_every_sender_until_it_ends_and_is_never_shortened(client, bucket):
    limiter = RateLimiter(client, {bucket: 100}, window_ms=1000)
    limiter.pause(bucket, 300)
    limiter.pause(bucket, 50)
    decision = limiter.decide(["all", bucket], token(), lane=lane())
    assert decision.paused and decision.bucket == bucket
    assert 250 < decision.wait_ms <= 300
    assert limiter.reason(decision) == f"{bucket} paused by the provider"
    time.sleep(decision.wait_ms / 1000)
    assert limiter.acquire(["all", bucket], token(), lane=lane()) == 0


def test_a_bucket_without_a_limit_is_only_checked_for_a_pause(client, bucket):
    limiter = RateLimiter(client, {}, window_ms=1000)
    assert [limiter.acquire([bucket], token(), lane="l") for _ in range(50)] == [0] * 50
    assert not client.exists(slots(bucket))
    limiter.pause(bucket, 500)
    waits = [limiter.acquire([bucket], token(), lane="l") for _ in range(3)]
    assert all(0 < wait <= 500 for wait in waits)
    assert max(waits) - min(waits) < 50, "no limit, so no tickets spread the waits"


def test_every_limited_bucket_must_have_room(client, bucket):
    backend = f"{bucket}-ses"
    limiter = RateLimiter(client, {bucket: 10, backend: 2}, window_ms=1000)
    assert limiter.acquire([bucket, backend], token(), lane="l") == 0
    assert limiter.acquire([bucket, backend], token(), lane="l") == 0
    refused = limiter.decide([bucket, backend], token(), lane="l")
    assert refused.wait_ms > 0 and refused.bucket == backend and not refused.paused
    assert limiter.reason(refused) == f"rate limit {backend}=2/s"
    assert limiter.acquire([bucket, f"{bucket}-smtp"], token(), lane="l") == 0
    assert client.zcard(slots(bucket)) == 3


def test_successive_refusals_are_spread_one_slot_spacing_apart(client, bucket):
    limiter = RateLimiter(client, {bucket: 5}, window_ms=1000)
    for _ in range(5):
        limiter.acquire([bucket], token(), lane="l")
    waits = [limiter.acquire([bucket], token(), lane="l") for _ in range(4)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(waits)]
    assert 900 < waits[0] <= 1000
    assert all(150 <= gap <= 200 for gap in gaps), waits


def test_refusals_are_promised_the_departures_of_answered_slots(client, bucket):
    """A burst's slots free in a burst: the line behind it is promised each slot's own
    departure, not one spacing after the other; past the slots known, one spacing apart."""
    limiter = RateLimiter(client, {bucket: 5}, window_ms=1000, hold_ms=HOLD_MS)
    tokens = [token() for _ in range(5)]
    for mine in tokens:
        assert limiter.acquire([bucket], mine, lane="l") == 0
    for mine in tokens:
        limiter.release([bucket], mine)
    scores = [score for _, score in client.zrange(slots(bucket), 0, -1, withscores=True)]
    waits = [limiter.acquire([bucket], token(), lane="l") for _ in range(6)]
    assert all(0 < wait <= 1000 for wait in waits[:5])
    assert waits[4] - waits[0] <= scores[-1] - scores[0] + 2  # as close as the answers were
    assert 150 <= waits[5] - waits[4] <= 201, waits  # beyond them: one spacing (200 ms)


def test_a_drain_that_waits_as_told_never_exceeds_the_limit_in_any_window(client, bucket):
    """Senders that sleep exactly the wait they are told and ask again, as a worker thread
    does, keep every window within the limit, counted from grant to a window after answer."""
    limit, window_ms = 5, 200
    limiter = RateLimiter(client, {bucket: limit}, window_ms=window_ms, hold_ms=HOLD_MS)
    sends: list[tuple[float, float]] = []  # (granted, answered) in Redis time, ms

    def sender() -> None:
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            mine, queued = token(), False
            while wait_ms := limiter.acquire([bucket], mine, lane="l", queued=queued):
                time.sleep(wait_ms / 1000)
                queued = True
            granted = float(client.zscore(slots(bucket), mine)) - HOLD_MS
            time.sleep(random.uniform(0, 0.01))  # a send of varying length
            limiter.release([bucket], mine)
            sends.append((granted, float(client.zscore(slots(bucket), mine))))

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for at, _ in sends:
        overlapping = [1 for granted, answered in sends if granted <= at < answered + window_ms]
        assert len(overlapping) <= limit
    assert len(sends) >= limit * 1200 / window_ms * 0.5, "the senders kept the limit busy"


def test_each_lane_has_its_own_tickets(client, bucket):
    limiter = RateLimiter(client, {bucket: 2}, window_ms=1000)
    for _ in range(2):
        limiter.acquire([bucket], token(), lane="mailer_low")
    low = [limiter.acquire([bucket], token(), lane="mailer_low") for _ in range(3)]
    critical = limiter.acquire([bucket], token(), lane="mailer_critical")
    assert low[-1] - low[0] >= 990
    assert critical <= low[0], "a critical email does not queue behind the low backlog"


def test_a_message_back_from_waiting_its_turn_takes_no_new_ticket(client, bucket):
    limiter = RateLimiter(client, {bucket: 2}, window_ms=1000)
    for _ in range(2):
        limiter.acquire([bucket], token(), lane="l")
    fresh = [limiter.acquire([bucket], token(), lane="l") for _ in range(3)]
    returning = limiter.acquire([bucket], token(), lane="l", queued=True)
    after = limiter.acquire([bucket], token(), lane="l")
    assert returning <= fresh[0], "told when a slot frees, not sent to the back of the line"
    assert 450 <= after - fresh[-1] <= 500, "and the line did not grow"


def test_tickets_and_slots_expire_on_their_own(client, bucket):
    limiter = RateLimiter(client, {bucket: 1}, window_ms=100, hold_ms=HOLD_MS)
    limiter.acquire([bucket], token(), lane="l")
    waits = [limiter.acquire([bucket], token(), lane="l") for _ in range(3)]
    assert waits[-1] >= 290
    ticket = store.key("rate", "turns", bucket, "l")
    assert 0 < client.pttl(ticket) <= waits[-1] + 200
    assert 0 < client.pttl(slots(bucket)) <= 100 + HOLD_MS
    time.sleep((waits[-1] + 250) / 1000)
    assert not client.exists(ticket)
    assert limiter.acquire([bucket], token(), lane="l") == 100, "the backlog cleared: no ticket"


def test_concurrent_senders_never_exceed_the_limit_in_any_window(client, bucket):
    limit, window_ms = 4, 300
    limiter = RateLimiter(client, {bucket: limit}, window_ms=window_ms, hold_ms=HOLD_MS)
    sends: list[tuple[float, float]] = []  # (granted, answered) in Redis time, ms

    def sender() -> None:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            mine = token()
            wait_ms = limiter.acquire([bucket], mine, lane="l")
            if wait_ms:
                time.sleep(min(wait_ms, 20) / 1000)
                continue
            granted = float(client.zscore(slots(bucket), mine)) - HOLD_MS
            time.sleep(random.uniform(0, 0.04))  # a send of varying length
            limiter.release([bucket], mine)
            sends.append((granted, float(client.zscore(slots(bucket), mine))))

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every send whose [grant, answer] meets a window is counted at the latest grant among them.
    for at, _ in sends:
        overlapping = [1 for granted, answered in sends if granted <= at < answered + window_ms]
        assert len(overlapping) <= limit
    assert len(sends) >= limit * 1500 / window_ms * 0.6, "the senders kept the limit busy"


# --- the limit in the worker's send -----------------------------------------------------------


class Sends(Middleware):
    """Records each message that ran, after the rate limit let it through."""

    def __init__(self) -> None:
        self.ran: list[tuple[float, dramatiq.Message]] = []

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None:
            self.ran.append((time.monotonic(), message))


@pytest.fixture
def limited(stub_broker, mailer_settings):
    """Three sends per second across the StubBroker's workers; records what got through."""
    settings.configure(dataclasses.replace(mailer_settings, rate_limit=3))
    client = redis_client(mailer_settings.redis_url)
    stale = list(client.scan_iter(store.key("rate", "*")))
    if stale:
        client.delete(*stale)
    sends = Sends()
    stub_broker.add_middleware(sends)
    return sends


def test_refused_messages_wait_without_spending_a_retry(limited, stub_broker, stub_worker):
    for number in range(10):  # over three seconds' worth: most are refused at first
        send_email("welcome", to=f"user{number}@example.com", context={"name": "Ann"})
    drain(stub_broker, stub_worker)
    assert sorted(email.to[0] for email in memory.sent()) == sorted(
        f"user{number}@example.com" for number in range(10)
    )
    assert dead_letters(stub_broker) == []
    # Two threads wait at most one turn each, a slot's departure within a second: they sleep
    # it off. A wait past a second puts the message back (tests/integration: test_rate_limit).
    assert all(message.options.get("retries", 0) == 0 for _, message in limited.ran)
    times = [at for at, _ in limited.ran]
    assert max(times) - min(times) >= 2.9, "ten at three a second take over three seconds"


def test_actors_that_send_no_email_pass_untouched(limited, stub_broker, stub_worker):
    ran: list[int] = []
    plain = dramatiq.actor(ran.append, actor_name=f"plain_{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    for number in range(10):
        plain.send(number)
    stub_broker.join(plain.queue_name)
    stub_worker.join()
    assert sorted(ran) == list(range(10))
    assert time.monotonic() - started < 0.9
    assert all(message.options.get("deferrals") is None for _, message in limited.ran)


def test_a_slot_taken_by_a_send_is_let_go_once_the_message_is_done(
    limited, stub_broker, stub_worker
):
    send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    drain(stub_broker, stub_worker)
    assert len(memory.sent()) == 1
    client = redis_client(settings.current().redis_url)
    for bucket in ("all", "memory"):
        slots = client.zrange(store.key("rate", "slots", bucket), 0, -1, withscores=True)
        [(_, score)] = slots if bucket == "all" else slots or [(b"", 0.0)]
        assert score <= time.time() * 1000 + 5, "released at the answer, not held for the hold"


def test_throttling_pauses_the_backend_for_every_worker(limited, stub_broker, stub_worker):
    memory.fail_next(Throttled("memory", "slow down", status=429, retry_after_s=0.4))
    send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    wait_until(lambda: paused_ms() > 0)
    assert 250 < paused_ms() <= 400
    drain(stub_broker, stub_worker)
    assert [email.to for email in memory.sent()] == [["ann@example.com"]]
    assert dead_letters(stub_broker) == []
    assert [m.options.get("deferrals") for _, m in limited.ran] == [1], "put back, not retried"


def test_throttling_without_a_hint_pauses_for_a_second(limited, stub_broker, stub_worker):
    memory.fail_next(Throttled("memory", "slow down", status=429))
    send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    wait_until(lambda: paused_ms() > 0)
    assert 800 < paused_ms() <= 1000


def paused_ms() -> int:
    return max(
        0,
        int(redis_client(settings.current().redis_url).pttl(store.key("rate", "pause", "memory"))),
    )


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
