"""Count the Redis round trips a Dramatiq worker's threads make, on the client side, with those
the process's settler makes for them.

Every command or pipeline redis-py sends is one ``Connection.send_packed_command`` call and
one wait for the answer: one round trip. Dramatiq's own traffic goes through its ``dispatch``
Lua script, whose first argument names the operation; its fetch and ack (which also carry the
heartbeat and the maintenance pass) are Dramatiq's cost whatever mailer does, so they are
counted apart. Anything else a worker thread sends, a Dramatiq ``enqueue`` included, is
mailer's.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.worker import _WorkerThread
from redis.connection import Connection

DRAMATIQS_OWN = (b"fetch", b"ack")
#: The thread that writes a worker's sent emails' outcomes (``mailer.worker.settler``): its
#: round trips are the worker threads' own, made for them.
OUTCOMES_THREAD = "mailer-outcomes"


class RoundTrips:
    """Round trips made on Dramatiq worker threads, by kind: ``mailer`` or ``dramatiq``."""

    def __init__(self, dispatch_sha: str) -> None:
        self.dispatch_sha = dispatch_sha.encode()
        self._lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.commands: collections.Counter[bytes] = collections.Counter()

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.commands.clear()

    def record(self, packed: Any) -> None:
        thread = threading.current_thread()
        if not isinstance(thread, _WorkerThread) and thread.name != OUTCOMES_THREAD:
            return
        data = packed if isinstance(packed, bytes) else b"".join(bytes(p) for p in packed)
        parts = data.split(b"\r\n", 11)
        name = parts[2].upper() if len(parts) > 2 else b"?"
        is_dispatch = name == b"EVALSHA" and len(parts) > 10 and parts[4] == self.dispatch_sha
        if is_dispatch:
            name = b"dispatch " + parts[10]
        kind = "dramatiq" if is_dispatch and parts[10] in DRAMATIQS_OWN else "mailer"
        with self._lock:
            self.counts[kind] += 1
            self.commands[name] += 1


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch, broker: RedisBroker) -> Iterator[RoundTrips]:
    """Count round trips on worker threads for as long as the block runs."""
    trips = RoundTrips(broker.scripts["dispatch"].sha)
    original: Callable[..., None] = Connection.send_packed_command

    def send_packed_command(self: Connection, command: Any, *args: Any, **kwargs: Any) -> None:
        trips.record(command)
        original(self, command, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Connection, "send_packed_command", send_packed_command)
        yield trips
