"""A batch of scripts alone runs as one composed script (``mailer.stores.scripts.composed``):
one call to Redis, and the replies, errors and effects of the scripts run one by one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from mailer.stores.scripts import Batch, Script, composed

pytestmark = pytest.mark.integration

NOTHING = Script(source="redis.call('SET', KEYS[1], ARGV[1])")  # answers nil
TABLE = Script(source="return {KEYS[1], tonumber(ARGV[1]) + 1, false, 'after'}")
COUNT = Script(source="return redis.call('INCRBY', KEYS[1], ARGV[1])")
WRONG_TYPE = Script(source="return redis.call('LPUSH', KEYS[1], 'x')")  # on a string: fails
BROKEN = Script(source="local t = nil\nreturn t.field")  # a Lua error, not a Redis one
STATUS = Script(source="return redis.call('SET', KEYS[1], 'v')")


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.delete("parts:a", "parts:n", "parts:s")
    client.config_resetstat()
    yield client
    client.close()


def calls(client: redis.Redis, command: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def test_scripts_alone_run_in_one_call_with_each_reply_their_own(client: redis.Redis) -> None:
    for run in range(2):  # the first sends the composed script itself, once per Redis
        client.config_resetstat()
        batch, seen = Batch(client), []
        batch.script(NOTHING, ["parts:a"], ["one"])
        batch.script(TABLE, ["parts:k"], [41], then=seen.append)
        batch.script(COUNT, ["parts:n"], [5])
        batch.script(STATUS, ["parts:s"], [])
        replies = batch.execute()

        assert replies == [None, [b"parts:k", 42, None, b"after"], 5 * (run + 1), b"OK"]
        assert seen == [[b"parts:k", 42, None, b"after"]]
        assert client.get("parts:a") == b"one"
    assert (calls(client, "evalsha"), calls(client, "eval")) == (1, 0)


def test_a_failing_script_leaves_the_others_to_run_and_is_raised(client: redis.Redis) -> None:
    client.set("parts:s", "a string")
    for failing, message in ((WRONG_TYPE, "WRONGTYPE"), (BROKEN, "attempt to index")):
        client.delete("parts:n")
        batch = Batch(client)
        batch.script(COUNT, ["parts:n"], [1])
        batch.script(failing, ["parts:s"], [])
        batch.script(COUNT, ["parts:n"], [10])
        with pytest.raises(redis.ResponseError, match=message):
            batch.execute()
        assert client.get("parts:n") == b"11"  # before and after it, as in a pipeline


def test_a_redis_that_forgot_the_composed_script_is_sent_it_again(client: redis.Redis) -> None:
    for _ in range(2):
        client.script_flush()
        batch = Batch(client)
        batch.script(COUNT, ["parts:n"], [2])
        batch.script(COUNT, ["parts:n"], [3])
        assert batch.execute() == [2, 5]
        client.delete("parts:n")


def test_a_batch_with_a_plain_command_stays_a_pipeline(client: redis.Redis) -> None:
    client.script_load(COUNT.source)
    batch = Batch(client)
    batch.script(COUNT, ["parts:n"], [2])
    batch.pipe.incrby("parts:n", 3)
    batch.script(COUNT, ["parts:n"], [4])
    assert batch.execute() == [2, 5, 9]
    assert calls(client, "evalsha") == 2


def test_batches_of_any_length_of_the_same_scripts_share_one_script(client: redis.Redis) -> None:
    """Each distinct script is written once in the composed one, and the parts' order goes
    in its arguments: Redis compiles one script for every length of batch."""
    client.script_flush()
    client.config_resetstat()
    for length in (2, 5, 3):
        batch = Batch(client)
        for _ in range(length):
            batch.script(COUNT, ["parts:n"], [1])
        batch.script(STATUS, ["parts:s"], [])
        batch.script(COUNT, ["parts:n"], [100])
        before = int(client.get("parts:n") or 0)
        expected = [before + k for k in range(1, length + 1)]
        assert batch.execute() == [*expected, b"OK", before + length + 100]
    assert calls(client, "eval") == 1  # sent in full by the first batch, named by the others
    assert client.get("parts:n") == b"310"
    assert client.get("parts:s") == b"v"
    assert composed((COUNT, STATUS)).source.count(COUNT.source) == 1
