"""Signals go to the middleware that listen for them, as Dramatiq would send them."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, SkipMessage

from mailer.broker.hooks import ListenersOnly


class Broker(ListenersOnly, StubBroker):
    """Dramatiq's stub broker, its signals sent to listeners only, as mailer's broker does."""


class Recorder(Middleware):
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def before_process_message(self, broker: Any, message: Any) -> None:
        self.calls.append(f"before {self.name}")

    def after_process_message(self, broker: Any, message: Any, **kwargs: Any) -> None:
        self.calls.append(f"after {self.name}")


class Silent(Middleware):
    """Listens for nothing: Middleware's empty hooks only."""


class Failing(Middleware):
    def before_process_message(self, broker: Any, message: Any) -> None:
        raise RuntimeError("a bug in a hook")

    def after_process_message(self, broker: Any, message: Any, **kwargs: Any) -> None:
        raise RuntimeError("another bug in a hook")


class Skipping(Middleware):
    def before_process_message(self, broker: Any, message: Any) -> None:
        raise SkipMessage("not this one")


def make_broker(*middleware: Middleware) -> Broker:
    return Broker(middleware=list(middleware))


def test_only_listeners_are_called_before_in_order_and_after_in_reverse() -> None:
    calls: list[str] = []
    broker = make_broker(Recorder("a", calls), Silent(), Recorder("b", calls))

    broker.emit_before("process_message", None)
    broker.emit_after("process_message", None, result=None)

    assert calls == ["before a", "before b", "after b", "after a"]
    assert len(broker._listening("before_process_message")) == 2
    assert broker._listening("before_enqueue") == []


def test_middleware_added_later_is_heard() -> None:
    calls: list[str] = []
    broker = make_broker(Recorder("a", calls))
    broker.emit_before("process_message", None)

    broker.add_middleware(Recorder("late", calls))
    broker.emit_before("process_message", None)

    assert calls == ["before a", "before a", "before late"]


def test_a_hook_set_on_an_instance_is_heard() -> None:
    calls: list[str] = []
    silent = Silent()
    silent.before_enqueue = lambda broker, message, delay: calls.append("enqueue")  # type: ignore[method-assign]
    broker = make_broker(silent)

    broker.emit_before("enqueue", None, None)

    assert calls == ["enqueue"]


def test_a_failing_hook_is_logged_and_the_rest_still_run(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    broker = make_broker(Failing(), Recorder("a", calls))

    with caplog.at_level(logging.CRITICAL):
        broker.emit_before("process_message", None)
        broker.emit_after("process_message", None, result=None)

    assert calls == ["before a", "after a"]
    assert [r.getMessage() for r in caplog.records] == [
        "Unexpected failure in before_process_message of " + repr(broker.middleware[0]) + ".",
        "Unexpected failure in after_process_message of " + repr(broker.middleware[0]) + ".",
    ]


def test_skip_message_reaches_the_worker() -> None:
    broker = make_broker(Skipping())

    with pytest.raises(SkipMessage):
        broker.emit_before("process_message", None)
