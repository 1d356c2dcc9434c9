"""Schedules end to end: two ``periodiq`` schedulers, a real worker, one minute tick.

Two schedulers run, as a deployment with a spare would: both enqueue a tick every minute,
and however those ticks are handled, each due entry must be sent exactly once.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dramatiq
import pytest
import redis

from mailer.actors.emails import lookup
from mailer.envelope import Email
from mailer.priorities import LEVELS
from mailer.stores.schedules import ScheduleStore
from tests.support.queues import NAMESPACE
from tests.support.scheduler import SchedulerProcess
from tests.support.worker import WorkerProcess, wait_until

pytestmark = pytest.mark.integration

DUE_NOW = 200
TICK_S = 60
FIRED = re.compile(r"Fired (\d+) scheduled email")
EARLIEST_PUT_SECOND, LATEST_PUT_SECOND = 10, 55


def welcome(to: str) -> dramatiq.Message[None]:
    envelope = Email(to=[to], from_email="", tags=["welcome"]).to_json()
    return lookup("welcome").actor.message(envelope, {"name": "Ann"})


def pending(client: redis.Redis, level: str) -> int:
    """Messages on a level's queue not yet acked: queued, fetched or being processed."""
    return int(client.hlen(f"{NAMESPACE}:{LEVELS[level].queue_name}.msgs"))


def delivered(outbox: Path) -> dict[str, float]:
    """Message id → when its file was written, for every email in the outbox."""
    found: dict[str, float] = {}
    for path in outbox.glob("*.eml"):
        with path.open("rb") as handle:
            parsed = email.message_from_binary_file(handle, policy=email.policy.default)
        message_id = str(parsed["Message-ID"]).strip("<>").partition("@")[0]
        assert message_id not in found, f"message {message_id} delivered twice"
        found[message_id] = path.stat().st_mtime
    return found


def fired_in_all(worker: WorkerProcess) -> int:
    return sum(int(count) for count in FIRED.findall(worker.log()))


def wait_for_startup_ticks(schedulers: list[SchedulerProcess], client: redis.Redis) -> None:
    """Each scheduler ticks as it starts; let those ticks run on the still empty schedule."""
    assert wait_until(lambda: all("Scheduling" in s.log() for s in schedulers), timeout_s=15)
    assert wait_until(lambda: pending(client, "critical") == 0, timeout_s=15)


def wait_for_put_window() -> None:
    """Put the entries between seconds 10 and 55 of a minute, never across a tick.

    A tick fires whatever is due, so an entry put just after one waits a whole minute: 10 s
    into the minute leaves room for the sends within the 60 s promise. Before 55 s, all are
    put before the next tick claims, so none waits for the one after.
    """
    now = datetime.now()
    second = now.second + now.microsecond / 1e6
    if second < EARLIEST_PUT_SECOND:
        time.sleep(EARLIEST_PUT_SECOND - second)
    elif second > LATEST_PUT_SECOND:
        time.sleep(TICK_S - second + EARLIEST_PUT_SECOND)


def put_entries(schedules: ScheduleStore, at: datetime) -> set[str]:
    """200 entries due at ``at`` and three changed since; returns the ids that must be sent."""
    due = [welcome(f"user{i}@example.com") for i in range(DUE_NOW)]
    for i, message in enumerate(due):
        schedules.put(f"user:{i}:welcome", at, message)
    moved_earlier = welcome("earlier@example.com")
    schedules.put("moved:earlier", at + timedelta(hours=1), moved_earlier)
    schedules.put("moved:earlier", at, moved_earlier)
    schedules.put("moved:later", at, welcome("later-old@example.com"))
    schedules.put("moved:later", at + timedelta(hours=1), welcome("later-new@example.com"))
    schedules.put("cancelled", at, welcome("cancelled@example.com"))
    assert schedules.cancel("cancelled")
    return {message.message_id for message in [*due, moved_earlier]}


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_two_schedulers_fire_every_due_entry_exactly_once(
    start_worker, start_scheduler, tmp_path, client
):
    outbox = tmp_path / "outbox"
    env = {"MAILER_BACKEND": "file", "MAILER_OUTBOX_DIR": str(outbox)}
    schedules = ScheduleStore(client)
    worker = start_worker(env, threads=4)
    schedulers = [start_scheduler(env), start_scheduler(env)]
    wait_for_startup_ticks(schedulers, client)
    wait_for_put_window()
    at = datetime.now(timezone.utc)
    expected = put_entries(schedules, at)

    assert wait_until(lambda: len(list(outbox.glob("*.eml"))) >= len(expected), TICK_S + 15)
    # Both ticks of that minute have run once the queues are empty: nothing more can come.
    assert wait_until(lambda: pending(client, "critical") + pending(client, "high") == 0)
    sent = delivered(outbox)
    assert set(sent) == expected
    assert fired_in_all(worker) == len(expected), worker.log()
    late_s = max(sent.values()) - at.timestamp()
    assert late_s <= TICK_S, f"the last scheduled email went out {late_s:.1f} s after its time"
    assert [entry.key for entry in schedules.list()] == ["moved:later"]
