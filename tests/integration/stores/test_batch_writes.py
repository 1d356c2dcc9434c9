"""A batch's gathered writes (``mailer.stores.scripts.Writes``) do in one script call what the
same redis-py calls would have done as pipeline entries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from mailer.stores.scripts import Batch

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.delete(*(f"writes:{name}" for name in ("s", "ex", "px", "gone", "list", "hash")))
    yield client
    client.close()


def write_every_kind(target: object) -> None:
    """The same calls, to a pipeline or to a batch's writes."""
    target.set("writes:s", "plain")  # type: ignore[attr-defined]
    target.set("writes:ex", "for a while", ex=100)  # type: ignore[attr-defined]
    target.set("writes:px", "briefly", px=50_000)  # type: ignore[attr-defined]
    target.set("writes:gone", "x")  # type: ignore[attr-defined]
    target.delete("writes:gone")  # type: ignore[attr-defined]
    target.rpush("writes:list", "a", "b")  # type: ignore[attr-defined]
    target.expire("writes:list", 300)  # type: ignore[attr-defined]
    target.hincrby("writes:hash", "n", 2)  # type: ignore[attr-defined]
    target.hincrby("writes:hash", "n")  # type: ignore[attr-defined]
    target.hincrbyfloat("writes:hash", "sum", 0.125)  # type: ignore[attr-defined]
    target.hincrbyfloat("writes:hash", "sum", 2)  # type: ignore[attr-defined]


def state(client: redis.Redis) -> dict[str, object]:
    return {
        "s": client.get("writes:s"),
        "ex": (client.get("writes:ex"), 90 < client.ttl("writes:ex") <= 100),
        "px": (client.get("writes:px"), 40_000 < client.pttl("writes:px") <= 50_000),
        "gone": client.exists("writes:gone"),
        "list": (client.lrange("writes:list", 0, -1), 290 < client.ttl("writes:list") <= 300),
        "hash": client.hgetall("writes:hash"),
    }


def test_writes_leave_what_the_same_pipeline_calls_leave(client: redis.Redis) -> None:
    pipe = client.pipeline(transaction=False)
    write_every_kind(pipe)
    pipe.execute()
    expected = state(client)
    client.delete(*(f"writes:{name}" for name in ("s", "ex", "px", "list", "hash")))

    batch = Batch(client)
    write_every_kind(batch.writes)
    assert len(batch) == 11
    batch.execute()

    assert state(client) == expected
    assert expected["hash"] == {b"n": b"3", b"sum": b"2.125"}


def test_writes_run_after_the_batch_s_other_commands(client: redis.Redis) -> None:
    batch = Batch(client)
    batch.writes.rpush("writes:list", "written last")
    batch.pipe.rpush("writes:list", "written first")
    batch.pipe.llen("writes:list")

    replies = batch.execute()

    assert client.lrange("writes:list", 0, -1) == [b"written first", b"written last"]
    assert replies[:2] == [1, 1]  # the pipeline's own replies keep their places
    assert len(batch) == 0  # a batch runs once
