"""The schedule store on the suite's Redis: entries, leases, firing, the ``schedule`` command."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import dramatiq
import pytest
import redis
from dramatiq.brokers.stub import StubBroker

from mailer import settings
from mailer.actors import schedules as schedule_actors
from mailer.actors.emails import lookup
from mailer.cli.main import main
from mailer.envelope import Email
from mailer.errors import InvalidKey, InvalidSendTime
from mailer.priorities import LEVELS
from mailer.settings import Settings
from mailer.stores.keys import key as redis_key
from mailer.stores.schedules import ScheduledEmail, ScheduleStore

HOUR = timedelta(hours=1)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    _clear(client)
    yield client
    _clear(client)
    client.close()


def _clear(client: redis.Redis) -> None:
    client.delete(*(redis_key("schedule", name) for name in ("due", "entries", "keys")))


@pytest.fixture
def schedules(client: redis.Redis) -> ScheduleStore:
    return ScheduleStore(client)


@pytest.fixture
def on_suite_redis(
    mailer_settings: Settings, redis_url: str, client: redis.Redis
) -> Iterator[Settings]:
    """The unit settings on the suite's Redis, for what finds Redis through the settings."""
    configured = dataclasses.replace(mailer_settings, redis_url=redis_url)
    settings.configure(configured)
    yield configured
    settings.configure(mailer_settings)


def welcome(to: str = "ann@example.com") -> dramatiq.Message[None]:
    envelope = Email(to=[to], from_email="", tags=["welcome"]).to_json()
    return lookup("welcome").actor.message(envelope, {"name": "Ann"})


def now() -> datetime:
    return datetime.now(timezone.utc)


def keys(entries: list[ScheduledEmail]) -> list[str]:
    return [entry.key for entry in entries]


def queued(broker: StubBroker, queue_name: str) -> list[dramatiq.Message[None]]:
    return [dramatiq.Message.decode(data) for data in broker.queues[queue_name].queue]


# --- put, get, cancel, list --------------------------------------------------------------------


def test_put_keeps_the_message_whole_and_describes_it(schedules):
    message = welcome("Ann <ann@example.com>")
    at = datetime(2031, 5, 1, 12, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=2)))
    schedules.put("user:1:welcome", at, message)
    entry = schedules.get("user:1:welcome")
    assert entry == ScheduledEmail(
        key="user:1:welcome",
        at=datetime(2031, 5, 1, 10, 30, 15, 250_000, tzinfo=timezone.utc),
        message_id=message.message_id,
        template="welcome",
        to=["Ann <ann@example.com>"],
        queue_name=LEVELS["high"].queue_name,
        message=message,
    )
    assert schedules.count() == 1


def test_put_refuses_a_naive_time_and_an_empty_key(schedules):
    with pytest.raises(InvalidSendTime):
        schedules.put("user:1:welcome", datetime(2031, 5, 1, 12, 0), welcome())
    with pytest.raises(InvalidKey):
        schedules.put("", now(), welcome())
    assert schedules.count() == 0


def test_put_under_the_same_key_replaces_the_entry(schedules):
    first, second = welcome(), welcome()
    schedules.put("user:1:welcome", now() + HOUR, first)
    schedules.put("user:1:welcome", now() + 2 * HOUR, second)
    assert schedules.count() == 1
    entry = schedules.get("user:1:welcome")
    assert entry is not None and entry.message_id == second.message_id


def test_cancel_says_whether_it_removed_an_entry(schedules):
    schedules.put("user:1:welcome", now() + HOUR, welcome())
    assert schedules.cancel("user:1:welcome") is True
    assert schedules.cancel("user:1:welcome") is False
    assert schedules.get("user:1:welcome") is None
    assert schedules.count() == 0
    assert schedules.list(prefix="user:") == []


def test_list_is_soonest_first_and_limited(schedules):
    start = now()
    for minutes, key in [(30, "c"), (10, "a"), (20, "b"), (40, "d")]:
        schedules.put(key, start + timedelta(minutes=minutes), welcome())
    assert keys(schedules.list()) == ["a", "b", "c", "d"]
    assert keys(schedules.list(limit=2)) == ["a", "b"]
    assert schedules.list(limit=0) == []


def test_list_by_prefix_takes_only_that_callers_keys(schedules):
    start = now()
    entries = {
        "appointment:42:reminder": 50,
        "appointment:42:confirmation": 5,
        "appointment:420:reminder": 1,
        "appointment:4:reminder": 2,
        "appointment:42é:reminder": 3,
        "user:42:welcome": 4,
    }
    for key, minutes in entries.items():
        schedules.put(key, start + timedelta(minutes=minutes), welcome())
    assert keys(schedules.list(prefix="appointment:42:")) == [
        "appointment:42:confirmation",
        "appointment:42:reminder",
    ]
    assert keys(schedules.list(prefix="appointment:42:", limit=1)) == [
        "appointment:42:confirmation"
    ]
    assert len(schedules.list(prefix="appointment:")) == 5
    assert keys(schedules.list(prefix="appointment:42é")) == ["appointment:42é:reminder"]
    assert schedules.list(prefix="nobody:") == []


# --- claims and leases -------------------------------------------------------------------------


def test_claim_due_takes_only_due_entries_and_leases_them(schedules):
    schedules.put("due:1", now() - timedelta(seconds=2), welcome())
    schedules.put("due:2", now() - timedelta(seconds=1), welcome())
    schedules.put("later", now() + HOUR, welcome())
    assert keys(schedules.claim_due(limit=10, lease_s=60)) == ["due:1", "due:2"]
    assert schedules.claim_due(limit=10, lease_s=60) == []
    # Leased, not gone: until completed, a claimed entry is still in the schedule.
    assert schedules.count() == 3


def test_claim_due_respects_its_limit_oldest_first(schedules):
    for seconds in range(5):
        schedules.put(f"due:{seconds}", now() - timedelta(seconds=10 - seconds), welcome())
    assert keys(schedules.claim_due(limit=2, lease_s=60)) == ["due:0", "due:1"]
    assert keys(schedules.claim_due(limit=10, lease_s=60)) == ["due:2", "due:3", "due:4"]


def test_an_expired_lease_makes_the_entry_due_again(schedules):
    message = welcome()
    schedules.put("due", now() - timedelta(seconds=1), message)
    [claimed] = schedules.claim_due(limit=10, lease_s=0.05)
    time.sleep(0.1)
    [again] = schedules.claim_due(limit=10, lease_s=60)
    assert again.message_id == claimed.message_id == message.message_id


def test_complete_removes_the_fired_entry(schedules):
    schedules.put("due", now() - timedelta(seconds=1), welcome())
    [entry] = schedules.claim_due(limit=10, lease_s=60)
    schedules.complete(entry)
    assert schedules.get("due") is None
    assert schedules.count() == 0
    assert schedules.list(prefix="due") == []


def test_a_store_under_another_prefix_keeps_its_own_schedule(client, schedules):
    other = ScheduleStore(client, prefix="other-app")
    try:
        other.put("due", now() - timedelta(seconds=1), welcome())
        assert schedules.get("due") is None
        assert client.zcard("other-app:schedule:due") == 1
        [entry] = other.claim_due(limit=10, lease_s=60)
        other.complete(entry)
        assert other.count() == 0
    finally:
        client.delete(*(f"other-app:schedule:{name}" for name in ("due", "entries", "keys")))


def test_complete_keeps_an_entry_rescheduled_with_a_new_message(schedules):
    schedules.put("due", now() - timedelta(seconds=1), welcome())
    [entry] = schedules.claim_due(limit=10, lease_s=60)
    replacement = welcome()
    schedules.put("due", now() + HOUR, replacement)
    schedules.complete(entry)
    kept = schedules.get("due")
    assert kept is not None and kept.message_id == replacement.message_id
    assert keys(schedules.list()) == ["due"]


def test_complete_keeps_the_same_message_moved_to_another_time(schedules):
    message = welcome()
    schedules.put("due", now() - timedelta(seconds=1), message)
    [entry] = schedules.claim_due(limit=10, lease_s=60)
    schedules.put("due", entry.at + HOUR, message)
    schedules.complete(entry)
    kept = schedules.get("due")
    assert kept is not None and kept.at == entry.at + HOUR


def test_complete_after_a_cancel_changes_nothing(schedules):
    schedules.put("due", now() - timedelta(seconds=1), welcome())
    [entry] = schedules.claim_due(limit=10, lease_s=60)
    schedules.cancel("due")
    schedules.complete(entry)
    assert schedules.count() == 0


def test_concurrent_claimers_never_get_the_same_entry(schedules):
    expected = set()
    for i in range(600):
        message = welcome(f"user{i}@example.com")
        expected.add(message.message_id)
        schedules.put(f"user:{i}", now() - timedelta(seconds=1), message)
    claims: list[list[str]] = [[] for _ in range(6)]
    start = threading.Barrier(len(claims))

    def claim(mine: list[str]) -> None:
        start.wait()
        while entries := schedules.claim_due(limit=7, lease_s=60):
            mine.extend(entry.message_id for entry in entries)

    threads = [threading.Thread(target=claim, args=(mine,)) for mine in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every_claim = [message_id for mine in claims for message_id in mine]
    assert len(every_claim) == len(set(every_claim)) == 600
    assert set(every_claim) == expected
    assert sum(1 for mine in claims if mine) > 1, "the claimers did not overlap"


# --- firing ------------------------------------------------------------------------------------


def test_fire_due_enqueues_the_stored_messages_themselves(stub_broker, schedules):
    due = [welcome(f"user{i}@example.com") for i in range(25)]
    for i, message in enumerate(due):
        schedules.put(f"user:{i}", now() - timedelta(seconds=1), message)
    schedules.put("later", now() + HOUR, welcome())
    assert schedules.fire_due(stub_broker.enqueue, batch=10) == 25
    enqueued = queued(stub_broker, LEVELS["high"].queue_name)
    assert sorted(m.message_id for m in enqueued) == sorted(m.message_id for m in due)
    assert {m.actor_name for m in enqueued} == {"send_welcome"}
    assert keys(schedules.list()) == ["later"]


def test_fire_due_with_nothing_due_enqueues_nothing(stub_broker, schedules):
    schedules.put("later", now() + HOUR, welcome())
    assert schedules.fire_due(stub_broker.enqueue) == 0
    assert queued(stub_broker, LEVELS["high"].queue_name) == []


def test_fire_due_stops_when_its_time_budget_is_spent(stub_broker, schedules):
    schedules.put("due", now() - timedelta(seconds=1), welcome())
    assert schedules.fire_due(stub_broker.enqueue, budget_s=0) == 0
    assert schedules.fire_due(stub_broker.enqueue) == 1


def test_an_undecodable_entry_is_skipped_without_holding_up_the_others(
    stub_broker, client, schedules, caplog
):
    client.hset(redis_key("schedule", "entries"), "damaged", b"{not json")
    client.zadd(redis_key("schedule", "due"), {"damaged": 0})
    schedules.put("fine", now() - timedelta(seconds=1), welcome())
    assert schedules.fire_due(stub_broker.enqueue) == 1
    assert "Schedule entry 'damaged' cannot be decoded" in caplog.text
    assert schedules.count() == 1
    assert schedules.cancel("damaged")


def test_fire_due_refuses_an_empty_batch(schedules):
    with pytest.raises(ValueError, match="batch"):
        schedules.fire_due(lambda message: None, batch=0)


def test_a_failed_enqueue_leaves_only_that_entry_leased(stub_broker, schedules, caplog):
    broken, fine = welcome("broken@example.com"), welcome("fine@example.com")
    schedules.put("broken", now() - timedelta(seconds=2), broken)
    schedules.put("fine", now() - timedelta(seconds=1), fine)

    def enqueue(message: dramatiq.Message[None]) -> object:
        if message.message_id == broken.message_id:
            raise redis.ConnectionError("connection refused")
        return stub_broker.enqueue(message)

    assert schedules.fire_due(enqueue, lease_s=0.05) == 1
    assert keys(schedules.list()) == ["broken"]
    assert broken.message_id in caplog.text
    time.sleep(0.1)
    assert schedules.fire_due(stub_broker.enqueue) == 1
    assert schedules.count() == 0


def test_the_tick_actor_fires_due_entries_onto_the_broker(stub_broker, on_suite_redis, schedules):
    message = welcome()
    schedules.put("due", now() - timedelta(seconds=1), message)
    schedule_actors.fire_due_schedules()
    [enqueued] = queued(stub_broker, LEVELS["high"].queue_name)
    assert enqueued.message_id == message.message_id
    assert schedules.count() == 0


def test_the_tick_actor_is_periodic_on_the_critical_queue():
    actor = schedule_actors.fire_due_schedules
    assert actor.queue_name == LEVELS["critical"].queue_name
    assert actor.priority == 0
    assert actor.options["max_retries"] == 0
    assert str(actor.options["periodic"]) == "* * * * *"


# --- the command -------------------------------------------------------------------------------


def test_schedule_list_prints_a_table_and_a_total(on_suite_redis, schedules, capsys):
    at = datetime(2031, 5, 1, 10, 30, tzinfo=timezone.utc)
    message = welcome("ann@example.com")
    schedules.put("appointment:42:reminder", at, message)
    schedules.put("user:7:welcome", at + HOUR, welcome("bob@example.com"))
    assert main(["schedule", "list", "--prefix", "appointment:42:"]) == 0
    header, row, total = capsys.readouterr().out.splitlines()
    assert header.split() == ["time", "(UTC)", "key", "template", "to", "message", "id"]
    assert row.split() == [
        "2031-05-01",
        "10:30:00Z",
        "appointment:42:reminder",
        "welcome",
        "ann@example.com",
        message.message_id,
    ]
    assert total == "1 shown, 2 scheduled in all"


def test_schedule_list_as_json(on_suite_redis, schedules, capsys):
    at = datetime(2031, 5, 1, 10, 30, tzinfo=timezone.utc)
    message = welcome("ann@example.com")
    schedules.put("user:1:welcome", at, message)
    schedules.put("user:2:welcome", at + HOUR, welcome())
    assert main(["schedule", "list", "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "total": 2,
        "schedules": [
            {
                "key": "user:1:welcome",
                "at": "2031-05-01T10:30:00+00:00",
                "template": "welcome",
                "to": ["ann@example.com"],
                "message_id": message.message_id,
                "queue_name": LEVELS["high"].queue_name,
            }
        ],
    }


def test_schedule_list_of_an_empty_schedule(on_suite_redis, capsys):
    assert main(["schedule", "list"]) == 0
    assert capsys.readouterr().out == "0 shown, 0 scheduled in all\n"


def test_schedule_list_refuses_a_limit_below_one(on_suite_redis, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["schedule", "list", "--limit", "0"])
    assert exit_info.value.code == 2
    assert "--limit" in capsys.readouterr().err


def test_schedule_cancel(on_suite_redis, schedules, capsys):
    schedules.put("user:1:welcome", now() + HOUR, welcome())
    assert main(["schedule", "cancel", "user:1:welcome"]) == 0
    assert capsys.readouterr().out == "cancelled user:1:welcome\n"
    assert schedules.count() == 0
    assert main(["schedule", "cancel", "user:1:welcome"]) == 1
    assert capsys.readouterr().err == "mailer: no scheduled email under the key 'user:1:welcome'\n"


def test_schedule_commands_report_an_unreachable_redis(capsys):
    settings.configure(Settings(redis_url="redis://127.0.0.1:1/0", backend="memory"))
    try:
        assert main(["schedule", "list"]) == 1
        assert main(["schedule", "cancel", "user:1:welcome"]) == 1
    finally:
        settings.configure(None)
    err = capsys.readouterr().err
    assert "mailer: could not read the schedule: ConnectionError" in err
    assert "mailer: could not cancel the schedule: ConnectionError" in err
