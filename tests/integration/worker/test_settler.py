"""A sent email's outcome goes to a real Redis as soon as it is handed over, and its answer is
read later, by its thread before the next provider call, by the reaper for a thread gone idle,
or by a stopping worker: nothing handed over is lost to a dropped connection, a Redis that
forgot its scripts, or another part's error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from mailer.stores.connection import connect
from mailer.stores.scripts import Batch, Script
from mailer.worker import settler as settler_module
from mailer.worker.settler import REAP_AFTER_S, Settler, flush_all

pytestmark = pytest.mark.integration

_FAILING = Script(source="return redis.error_reply('refused on purpose')")
_ECHO = Script(source="return ARGV[1]")


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = connect(redis_url)
    client.flushdb()
    yield client
    client.close()


def outcome(client: redis.Redis, n: int, answered: list[Any] | None = None) -> Batch:
    batch = Batch(client)
    batch.writes.set(f"outcome:{n}", "sent", ex=60)
    batch.writes.hincrby("outcome:count", "sent")
    if answered is not None:
        batch.script(_ECHO, [], [f"answer {n}"], then=answered.append)
    return batch


def wait_until(predicate: Any, timeout_s: float = 5.0) -> bool:
    deadline_s = time.monotonic() + timeout_s
    while time.monotonic() < deadline_s:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_an_outcome_reaches_redis_without_its_thread_waiting_and_is_read_before_the_next(
    client,
):
    settler, answered = Settler(), []
    settler.submit(outcome(client, 1, answered), "m1")
    assert answered == []  # not read: the thread went on
    assert wait_until(lambda: client.get("outcome:1") == b"sent")  # Redis has it regardless

    settler.finish_previous()  # as before the thread's next provider call
    assert answered == [b"answer 1"]
    settler.submit(outcome(client, 2, answered), "m2")  # reads nothing twice
    settler.finish_previous()
    assert answered == [b"answer 1", b"answer 2"]
    assert client.hget("outcome:count", "sent") == b"2"


def test_one_outcome_is_one_call_to_redis(client):
    settler = Settler()
    settler.submit(outcome(client, 0), "warm-up")  # the script sent in full once
    settler.finish_previous()
    client.config_resetstat()
    for n in range(1, 6):
        settler.submit(outcome(client, n, []), f"m{n}")
    settler.finish_previous()

    calls = client.info("commandstats")
    assert calls["cmdstat_evalsha"]["calls"] == 5
    assert "cmdstat_eval" not in calls


def test_a_redis_that_forgot_its_scripts_is_sent_the_script_and_takes_the_outcome(client):
    client.script_flush()
    settler, answered = Settler(), []
    settler.submit(outcome(client, 1, answered), "m1")
    settler.finish_previous()

    assert answered == [b"answer 1"]
    assert client.get("outcome:1") == b"sent"
    assert client.hget("outcome:count", "sent") == b"1"


def test_an_outcome_whose_answer_was_lost_is_written_again_before_the_next_send(
    client, monkeypatch
):
    settler, answered = Settler(), []
    lost = [True]
    real = settler_module.read_reply

    def dropped_once(connection: Any) -> Any:
        if lost.pop() if lost else False:
            raise redis.ConnectionError("Connection reset by peer")
        return real(connection)

    monkeypatch.setattr(settler_module, "read_reply", dropped_once)
    settler.submit(outcome(client, 1, answered), "m1")
    settler.finish_previous()

    assert answered == [b"answer 1"]  # from the second write's answer
    assert client.get("outcome:1") == b"sent"


def test_one_parts_error_leaves_the_rest_written_and_is_named(client, caplog):
    settler = Settler()
    failing = outcome(client, 1)
    failing.script(_FAILING, [], [])
    settler.submit(failing, "m1")
    settler.finish_previous()

    assert client.get("outcome:1") == b"sent"
    assert "Could not write the outcome of message m1" in caplog.text


def test_the_reaper_reads_the_answer_of_a_thread_gone_idle(client):
    settler, answered = Settler(), []
    thread = threading.Thread(target=settler.submit, args=(outcome(client, 1, answered), "m1"))
    thread.start()
    thread.join()  # the thread is gone: nobody of its own reads the answer

    assert wait_until(lambda: answered == [b"answer 1"], timeout_s=4 * REAP_AFTER_S + 1)


def test_a_stopping_worker_reads_every_answer_and_says_when_redis_would_not_take_one(
    client, monkeypatch
):
    settler, answered = Settler(), []
    threads = [
        threading.Thread(target=settler.submit, args=(outcome(client, n, answered), f"m{n}"))
        for n in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert flush_all(5) is True
    assert sorted(answered) == [b"answer 0", b"answer 1", b"answer 2"]

    def down(connection: Any) -> Any:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(settler_module, "read_reply", down)
    monkeypatch.setattr(Batch, "execute_composed", lambda batch: down(None))
    settler.submit(outcome(client, 9), "m9")
    assert flush_all(0.3) is False


def test_an_outcome_whose_connection_was_made_again_is_written_again_not_answered_wrongly(
    client,
):
    settler, answered, result = Settler(), [], []
    echo = Script(source="return 'the gate'")

    def sending_thread() -> None:
        settler.submit(outcome(client, 1, answered), "m1")
        settler._connection(client).disconnect()  # as a failed write on a dropped line does
        answer = settler.call_ahead(client, echo, [], [])  # goes out on a new connection
        result.append(answer())

    thread = threading.Thread(target=sending_thread, daemon=True)
    thread.start()
    thread.join(5)
    assert result == [b"the gate"]  # its own answer, not taken by the outcome before it
    assert answered == [b"answer 1"]  # the outcome, written again through the pool
    assert client.get("outcome:1") == b"sent"
