"""Durable schedules: ready Dramatiq messages kept in Redis under a caller's key until due.

A schedule entry is a message already validated and built at the call site, so firing it is
only an enqueue, of the very message stored (same message id). Three keys hold the schedule:

- ``mailer:schedule:due``, a sorted set of keys scored by when each is next due, in ms;
- ``mailer:schedule:entries``, a hash of key → the entry as JSON (message included);
- ``mailer:schedule:keys``, the same keys all scored 0, so ``list(prefix=...)`` reads one
  caller's entries by lexical range instead of scanning the whole schedule.

Firing is at-least-once: ``claim_due`` leases due entries (their score moves to the lease's
end) in one Lua call, and ``complete`` removes them once enqueued. A scheduler that dies in
between leaves its entries to come due again when the lease ends; the worker's send receipts,
kept by message id, make the second enqueue of the same message a no-op.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import dramatiq
import redis

from mailer.argument_checks import check_aware, check_key
from mailer.stores import keys as store

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)

# Entries due by Redis's own clock, so every scheduler agrees on "now" whatever its host's
# clock says. Each is leased: its score moves to the lease's end, so a concurrent claimer
# skips it, and it comes due again should this claimer die before completing it.
_CLAIM_DUE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
local lease_until_ms = now_ms + tonumber(ARGV[2])
local claimed = {}
for _, key in ipairs(keys) do
    local entry = redis.call('HGET', KEYS[2], key)
    if entry then
        redis.call('ZADD', KEYS[1], lease_until_ms, key)
        claimed[#claimed + 1] = key
        claimed[#claimed + 1] = entry
    else
        redis.call('ZREM', KEYS[1], key)
    end
end
return claimed
"""

# Remove each fired entry only while it is the one that was fired: same message, same time.
# A key rescheduled since the claim (a new message, or the same one at another time) stays.
# ARGV holds (key, identity) pairs, a whole batch in one call; an entry's JSON begins with its
# identity (see ``_identity``), so a prefix comparison stands in for decoding it.
_COMPLETE = """
local removed = 0
for i = 1, #ARGV, 2 do
    local key, identity = ARGV[i], ARGV[i + 1]
    local raw = redis.call('HGET', KEYS[1], key)
    if raw and string.sub(raw, 1, #identity) == identity then
        redis.call('HDEL', KEYS[1], key)
        redis.call('ZREM', KEYS[2], key)
        redis.call('ZREM', KEYS[3], key)
        removed = removed + 1
    end
end
return removed
"""


@dataclass(frozen=True)
class ScheduledEmail:
    """One entry: when it is due, what it sends, and the message that will be enqueued."""

    key: str
    at: datetime  # aware, UTC
    message_id: str
    template: str
    to: list[str]
    queue_name: str
    message: dramatiq.Message[Any]


class ScheduleStore:
    """The schedule in Redis; every method is safe to call from any process at any time."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._due = store.key("schedule", "due")
        self._entries = store.key("schedule", "entries")
        self._keys = store.key("schedule", "keys")
        self._claim_due = client.register_script(_CLAIM_DUE)
        self._complete = client.register_script(_COMPLETE)

    def put(self, key: str, at: datetime, message: dramatiq.Message[Any]) -> None:
        """Send ``message`` at ``at``; an entry already under ``key`` is replaced atomically."""
        entry = _entry(
            check_key(key, "key"), check_aware(at, "at").astimezone(timezone.utc), message
        )
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._entries, key, _encode(entry))
            pipe.zadd(self._due, {key: _due_ms(entry.at)})
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
        return None if raw is None else _decode(raw)

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
        return [_decode(raw) for raw in raws if raw is not None]

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
            args = [arg for entry in entries for arg in (entry.key, _identity(entry))]
            self._complete(keys=[self._entries, self._due, self._keys], args=args)


def _decode_claimed(keys: list[bytes], raws: list[bytes]) -> list[ScheduledEmail]:
    """The claimed entries that decode; one that does not stays leased and is logged by key.

    Left leased rather than raised, so a damaged entry cannot hold up every other one, tick
    after tick; it is reported again each time its lease ends, until someone cancels it.
    """
    entries = []
    for key, raw in zip(keys, raws, strict=True):
        try:
            entries.append(_decode(raw))
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


def _due_ms(at: datetime) -> int:
    """Rounded up to the millisecond: an entry may fire a little late, never early."""
    return -((_EPOCH - at) // _ONE_MS)


def _entry(key: str, at: datetime, message: dramatiq.Message[Any]) -> ScheduledEmail:
    template, to = _describe(message)
    return ScheduledEmail(
        key=key,
        at=at,
        message_id=str(message.message_id),
        template=template,
        to=to,
        queue_name=message.queue_name,
        message=message,
    )


def _describe(message: dramatiq.Message[Any]) -> tuple[str, list[str]]:
    """Template and recipients from an email message's envelope, for listings."""
    envelope = message.args[0] if message.args else None
    if not isinstance(envelope, Mapping):
        return message.actor_name, []
    tags = envelope.get("tags") or [message.actor_name]
    return str(tags[0]), [str(address) for address in envelope.get("to", [])]


def _identity(entry: ScheduledEmail) -> str:
    """The start of the entry's JSON, ``{"at":"…","message_id":"…",``, which ``complete`` checks.

    JSON escapes every quote inside a string, so only an entry with this very time and message
    id starts with this text.
    """
    return _dumps({"at": entry.at.isoformat(), "message_id": entry.message_id})[:-1] + ","


def _encode(entry: ScheduledEmail) -> str:
    """The entry as JSON; the time and message id come first, forming its ``_identity``."""
    return _dumps(
        {
            "at": entry.at.isoformat(),
            "message_id": entry.message_id,
            "key": entry.key,
            "template": entry.template,
            "to": entry.to,
            "queue_name": entry.queue_name,
            "message": entry.message.encode().decode("utf-8"),
        }
    )


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def _decode(raw: bytes) -> ScheduledEmail:
    data = json.loads(raw)
    return ScheduledEmail(
        key=data["key"],
        at=datetime.fromisoformat(data["at"]),
        message_id=data["message_id"],
        template=data["template"],
        to=data["to"],
        queue_name=data["queue_name"],
        message=dramatiq.Message.decode(data["message"].encode("utf-8")),
    )
