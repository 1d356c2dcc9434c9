"""Redis failures become ``mailer.BrokerUnavailable``: the URL masked, redis-py's error kept as
the cause, other Redis errors left alone, and nothing queued when the call fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import redis.exceptions
from dramatiq.brokers.stub import StubBroker

import mailer
from mailer import settings
from mailer.api.redis_errors import broker_errors, masked_url
from mailer.embedded_redis import free_port
from mailer.errors import BrokerUnavailable, MailerError
from mailer.settings import Settings


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "rediss://ann:s3cret@cache.example.com:6380/2",
            "rediss://ann:***@cache.example.com:6380/2",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("redis://cache:6379/0?password=s3cret&ssl=1", "redis://cache:6379/0?password=***&ssl=1"),
        ("redis://:p%40ss@cache:6379", "redis://:***@cache:6379"),
        ("unix://:s3cret@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
    ],
)
def test_the_url_shown_never_carries_the_password(url: str, shown: str) -> None:
    assert masked_url(url) == shown


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ConnectionError("Error 111 connecting to cache:6379. Connection refused."),
        redis.exceptions.TimeoutError("Timeout connecting to server"),
        redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    ],
    ids=["refused", "timeout", "loading"],
)
def test_redis_being_away_is_broker_unavailable(error: Exception) -> None:
    with pytest.raises(BrokerUnavailable) as caught, broker_errors("redis://:s3cret@cache:6379/0"):
        raise error
    assert caught.value.__cause__ is error
    assert isinstance(caught.value, MailerError)
    assert caught.value.url == "redis://:***@cache:6379/0"
    assert str(caught.value).startswith("Redis at redis://:***@cache:6379/0 is unavailable: ")
    assert "s3cret" not in str(caught.value)


def test_a_password_echoed_by_redis_py_is_masked_too() -> None:
    with pytest.raises(BrokerUnavailable) as caught, broker_errors("redis://:s3cret@cache:6379/0"):
        raise redis.exceptions.ConnectionError("cannot reach redis://:s3cret@cache:6379/0")
    assert "s3cret" not in str(caught.value)


def test_other_redis_errors_are_left_as_they_are() -> None:
    """A wrong type under a key is a bug to see, not Redis being away."""
    with pytest.raises(redis.exceptions.ResponseError), broker_errors("redis://cache:6379/0"):
        raise redis.exceptions.ResponseError("WRONGTYPE")


@pytest.fixture
def closed_redis(mailer_settings: Settings) -> Iterator[Settings]:
    """The settings, pointed at a port where nothing listens."""
    closed = dataclasses.replace(
        mailer_settings, redis_url=f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    )
    settings.configure(closed)
    yield closed
    settings.configure(mailer_settings)


@pytest.mark.parametrize(
    "call",
    [
        lambda: mailer.delivery_status("some-id"),
        lambda: mailer.search_deliveries(to="ann@example.com"),
        lambda: mailer.cancel_scheduled("booking:1"),
        lambda: mailer.scheduled_email("booking:1"),
        lambda: mailer.suppress("ann@example.com"),
        lambda: mailer.unsuppress("ann@example.com"),
        lambda: mailer.is_suppressed("ann@example.com"),
        lambda: mailer.notify(42, "Hello"),
        lambda: mailer.notifications(42),
        lambda: mailer.unread_count(42),
        lambda: mailer.mark_read(42, "1700000000000-0"),
        lambda: mailer.mark_all_read(42),
    ],
)
def test_every_public_call_on_redis_raises_broker_unavailable(
    closed_redis: Settings, call: object
) -> None:
    with pytest.raises(BrokerUnavailable) as caught:
        call()  # type: ignore[operator]
    assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
    assert "s3cret" not in str(caught.value)


def test_nothing_is_queued_when_the_key_cannot_be_claimed(
    stub_broker: StubBroker, closed_redis: Settings
) -> None:
    with pytest.raises(BrokerUnavailable):
        mailer.send_email("welcome", "ann@example.com", {"name": "Ann"}, idempotency_key="k")
    assert all(not queue.qsize() for queue in stub_broker.queues.values())


def test_input_errors_still_come_first(closed_redis: Settings) -> None:
    """A bad call is the caller's to fix whether Redis is up or not."""
    with pytest.raises(mailer.InvalidAddress):
        mailer.is_suppressed("not an address")
