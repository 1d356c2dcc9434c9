"""A broker that runs each message in the caller's thread, on a clock a test can move.

Dramatiq's ``StubBroker`` queues messages for a ``Worker``'s threads; a test then joins the
queues and waits. Here the message runs at once, in the thread that enqueued it, through the
same hooks a worker thread calls (``dramatiq.worker._WorkerThread.process_message`` and its
consumer's ack or nack), so mailer's whole middleware stack sees what it sees in production.
Messages an actor enqueues while it runs (a retry, a put-back, a digest's alert) wait until it
is done, then run in turn. A delayed message waits for the test to ``advance`` the clock past
its time.

An exception an actor raises is raised again to the caller once every message is done, except
a ``TransientSendError`` (retried, as in production) and a put-back (not a failure at all).
"""

from __future__ import annotations

import collections
import heapq
import itertools
import threading
import time
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, SkipMessage

from mailer.errors import TransientSendError
from mailer.worker.deferral import Deferred

#: What production retries or puts back by design: a test sees their effect, not an error.
EXPECTED = (TransientSendError, Deferred)


class InlineBroker(StubBroker):
    def __init__(self, middleware: list[Middleware]) -> None:
        super().__init__(middleware=middleware)
        self.offset_ms = 0
        self.dead_letters_list: list[dramatiq.Message[Any]] = []
        self._ready: collections.deque[dramatiq.Message[Any]] = collections.deque()
        self._delayed: list[tuple[int, int, dramatiq.Message[Any]]] = []
        self._order = itertools.count()
        self._lock = threading.RLock()
        self._running = threading.local()
        self._failures: list[BaseException] = []

    def now_ms(self) -> int:
        """The test's clock: the real one, moved on by every ``advance``."""
        return int(time.time() * 1000) + self.offset_ms

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> Any:
        if message.queue_name not in self.queues:
            raise dramatiq.errors.QueueNotFound(message.queue_name)
        self.emit_before("enqueue", message, delay)
        with self._lock:
            if delay:
                eta = self.now_ms() + delay
                heapq.heappush(self._delayed, (eta, next(self._order), message))
            else:
                self._ready.append(message)
        self.emit_after("enqueue", message, delay)
        self.run_ready()
        return message

    def run_ready(self) -> None:
        """Run what is ready, unless this thread is already running messages (an actor's own
        enqueue), then raise the first unexpected failure."""
        if getattr(self._running, "active", False):
            return
        with self._lock:
            self._running.active = True
            try:
                while self._ready:
                    self._process(self._ready.popleft())
                failures, self._failures = self._failures, []
            finally:
                self._running.active = False
        if failures:
            raise failures[0]

    def advance(self, delta_ms: int) -> None:
        """Move the clock on, running each delayed message as its time comes, in order."""
        with self._lock:
            target = self.now_ms() + delta_ms
            while self._delayed and self._delayed[0][0] <= target:
                eta, _, message = heapq.heappop(self._delayed)
                self.offset_ms = max(self.offset_ms, eta - int(time.time() * 1000))
                self._ready.append(message)
                self.run_ready()
            self.offset_ms = max(self.offset_ms, target - int(time.time() * 1000))

    def pending(self) -> list[tuple[int, dramatiq.Message[Any]]]:
        """The delayed messages, soonest first, each with its time on the test's clock."""
        return [(eta, message) for eta, _, message in sorted(self._delayed)]

    def forget(self) -> None:
        """Drop every waiting message and dead letter: a fresh start for the next test."""
        with self._lock:
            self._ready.clear()
            self._delayed.clear()
            self.dead_letters_list.clear()
            self._failures.clear()
            self.offset_ms = 0

    def _process(self, message: dramatiq.Message[Any]) -> None:
        """What a worker thread does with one message, then its consumer's ack or nack."""
        proxy = MessageProxy(message)
        try:
            self.emit_before("process_message", proxy)
            result = None
            if not proxy.failed:
                actor = self.get_actor(proxy.actor_name)
                result = actor(*proxy.args, **proxy.kwargs)
            self.emit_after("process_message", proxy, result=result)
        except SkipMessage:
            self.emit_after("skip_message", proxy)
        except BaseException as err:
            proxy.stuff_exception(err)
            self.emit_after("process_message", proxy, exception=err)
            if not isinstance(err, EXPECTED) or proxy.failed:
                self._failures.append(err)
        finally:
            self._settle(proxy)

    def _settle(self, proxy: MessageProxy) -> None:
        if proxy.failed:
            self.emit_before("nack", proxy)
            self.dead_letters_list.append(proxy._message)
            self.emit_after("nack", proxy)
        else:
            self.emit_before("ack", proxy)
            self.emit_after("ack", proxy)
