"""Durable schedules: ready Dramatiq messages kept in Redis under a caller's key until due.

A schedule entry is a message already validated and built at the call site, so firing it is
only an enqueue, of the very message stored (same message id). Three keys hold the schedule,
under the store's prefix (``mailer`` by default):

- ``mailer:schedule:due``, a sorted set of keys scored by when each is next due, in ms;
- ``mailer:schedule:entries``, a hash of key → the entry as JSON (message included, see
  ``schedule_entries``);
- ``mailer:schedule:keys``, the same keys all scored 0, so ``list(prefix=...)`` reads one
  caller's entries by lexical range instead of scanning the whole schedule.

Firing is at-least-once: ``claim_due`` leases due entries (their score moves to the lease's
end) in one Lua call (``lua/schedule_claim_due.lua``), and ``complete`` removes them once
enqueued. A scheduler that dies in between leaves its entries to come due again when the lease
ends; the worker's send receipts, kept by message id, make the second enqueue of the same
message a no-op.
"""

from __future__ import annotations

import builtins
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import dramatiq
import redis

from mailer.argument_checks import check_aware, check_key
from mailer.stores import lua, schedule_entries
from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.schedule_entries import ScheduledEmail

__all__ = ["ScheduleStore", "ScheduledEmail"]

logger = logging.getLogger(__name__)


class ScheduleStore:
    """The schedule in Redis; every method is safe to call from any process at any time."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self._due = namespaced(prefix, "schedule", "due")
        self._entries = namespaced(prefix, "schedule", "entries")
        self._keys = namespaced(prefix, "schedule", "keys")
        self._claim_due = client.register_script(lua.source("schedule_claim_due"))
        self._complete = client.register_script(lua.source("schedule_complete"))

    def put(self, key: str, at: datetime, message: dramatiq.Message[Any]) -> None:
        """Send ``message`` at ``at``; an entry already under ``key`` is replaced atomically."""
        scheduled = schedule_entries.entry(
            check_key(key, "key"), check_aware(at, "at").astimezone(timezone.utc), message
        )
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._entries, key, schedule_entries.encode(scheduled))
            pipe.zadd(self._due, {key: schedule_entries.due_ms(scheduled.at)})
            pipe.zadd(self._keys, {key: 0})
            pipe.execute()

    def cancel(self, key: str) -> bool:
        """Remove the entry under ``key``; True if there was one.

        An entry claimed by a tick at that very moment may still be sent: its message is
        already on its way to the queue.
        """
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self._entries, key)
            pipe.zrem(self._due, key)
            pipe.zrem(self._keys, key)
            removed, _, _ = pipe.execute()
        return bool(removed)

    def get(self, key: str) -> ScheduledEmail | None:
        raw = self.client.hget(self._entries, key)
        return None if raw is None else schedule_entries.decode(raw)

    def count(self) -> int:
        return int(self.client.zcard(self._due))

    def claim_due(self, *, limit: int, lease_s: float) -> builtins.list[ScheduledEmail]:
        """Lease up to ``limit`` due entries, oldest first, for ``lease_s``; returns them."""
        lease_ms = max(1, math.ceil(lease_s * 1000))
        claimed = self._claim_due(keys=[self._due, self._entries], args=[limit, lease_ms])
        return _decode_claimed(claimed[0::2], claimed[1::2])

    def complete(self, entry: ScheduledEmail) -> None:
        """Remove a fired entry, unless its key was rescheduled or cancelled meanwhile."""
        self._complete_all([entry])

    def fire_due(
        self,
        enqueue: Callable[[dramatiq.Message[Any]], object],
        *,
        batch: int = 500,
        lease_s: float = 300,
        budget_s: float = 45,
    ) -> int:
        """Enqueue every due entry, ``batch`` at a time, for up to ``budget_s``; how many fired.

        The budget keeps one run inside the minute between scheduler ticks; what is still due
        then waits for the next tick. An entry whose enqueue fails stays leased, so it is
        tried again when its lease ends without holding up the others.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        deadline = time.monotonic() + budget_s
        fired = 0
        while time.monotonic() < deadline:
            entries = self.claim_due(limit=batch, lease_s=lease_s)
            enqueued = _enqueue_each(enqueue, entries, lease_s)
            self._complete_all(enqueued)
            fired += len(enqueued)
            if len(entries) < batch:
                break
        return fired

    def list(self, *, limit: int = 100, prefix: str = "") -> builtins.list[ScheduledEmail]:
        """Up to ``limit`` entries whose key starts with ``prefix``, soonest due first."""
        if limit < 1:
            return []
        if prefix:
            keys = self._soonest_by_prefix(prefix, limit)
        else:
            keys = self.client.zrange(self._due, 0, limit - 1)
        raws = self.client.hmget(self._entries, keys) if keys else []
        # An entry completed or cancelled between the two reads is left out.
        return [schedule_entries.decode(raw) for raw in raws if raw is not None]

    def _soonest_by_prefix(self, prefix: str, limit: int) -> builtins.list[bytes]:
        """Keys under ``prefix`` by lexical range (no valid UTF-8 byte is 0xff), then by time."""
        encoded = prefix.encode()
        keys = self.client.zrangebylex(self._keys, b"[" + encoded, b"(" + encoded + b"\xff")
        if not keys:
            return []
        scores = self.client.zmscore(self._due, keys)
        timed = [(score, key) for key, score in zip(keys, scores, strict=True) if score is not None]
        return [key for _, key in sorted(timed)[:limit]]

    def _complete_all(self, entries: builtins.list[ScheduledEmail]) -> None:
        """A whole batch in one script call: one round trip, one command to build and parse."""
        if entries:
            args = [arg for each in entries for arg in (each.key, schedule_entries.identity(each))]
            self._complete(keys=[self._entries, self._due, self._keys], args=args)


def _decode_claimed(keys: list[bytes], raws: list[bytes]) -> list[ScheduledEmail]:
    """The claimed entries that decode; one that does not stays leased and is logged by key.

    Left leased rather than raised, so a damaged entry cannot hold up every other one, tick
    after tick; it is reported again each time its lease ends, until someone cancels it.
    """
    entries = []
    for key, raw in zip(keys, raws, strict=True):
        try:
            entries.append(schedule_entries.decode(raw))
        except (ValueError, KeyError, TypeError, dramatiq.errors.DecodeError) as err:
            name = key.decode(errors="replace")
            logger.error("Schedule entry %r cannot be decoded (%s); it is skipped.", name, err)
    return entries


def _enqueue_each(
    enqueue: Callable[[dramatiq.Message[Any]], object],
    entries: list[ScheduledEmail],
    lease_s: float,
) -> list[ScheduledEmail]:
    """Enqueue each entry's message; returns those enqueued, logs those that failed."""
    enqueued = []
    for entry in entries:
        try:
            enqueue(entry.message)
        except Exception:
            logger.exception(
                "Could not enqueue scheduled message %s (%s); trying again in %.0f s.",
                entry.message_id,
                entry.key,
                lease_s,
            )
        else:
            enqueued.append(entry)
    return enqueued
