"""Recent events and what each subscriber made of them, for the dashboard's events page.

``publish`` records each event it enqueued: its topic, time, payload (sensitive values
masked) and the subscribers' message ids, in ``events:event:<id>``, listed newest first in the
sorted set ``events:recent``, which keeps the latest ``KEEP``. Each subscriber's run then
writes its outcome into the event's hash under ``sub:<name>``: ``done``, ``retrying`` (with the
error) or ``dead``. Events expire after ``TTL_S``.

This is bookkeeping beside the queues: a write that fails is logged by the caller, and the
event is delivered all the same.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from mailer.masking import mask_sensitive
from mailer.stores.keys import DEFAULT_PREFIX, namespaced

#: How many events the list keeps, and for how long an event's record lasts.
KEEP = 1_000
TTL_S = 7 * 24 * 3600
OUTCOMES = ("queued", "done", "retrying", "dead")


@dataclass(frozen=True)
class SubscriberOutcome:
    name: str
    message_id: str
    status: str  # one of OUTCOMES
    at: float | None = None
    error: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class EventRecord:
    event_id: str
    topic: str
    published_at: float
    payload: dict[str, Any]
    subscribers: list[SubscriberOutcome] = field(default_factory=list)


class EventLog:
    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self.recent_key = namespaced(prefix, "events", "recent")

    def event_key(self, event_id: str) -> str:
        return namespaced(self.prefix, "events", "event", event_id)

    def published(
        self,
        event_id: str,
        topic: str,
        published_at: float,
        payload: Mapping[str, Any],
        subscribers: Iterable[tuple[str, str]],
    ) -> None:
        """The event and its subscribers' ``(name, message id)``, each ``queued``, in one
        round trip."""
        fields = {
            "topic": topic,
            "published_at": repr(published_at),
            "payload": json.dumps(mask_sensitive(payload)),
        }
        key = self.event_key(event_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=fields)
            for name, message_id in subscribers:
                # A fast worker may have written the subscriber's outcome already: it stays.
                queued = json.dumps({"message_id": message_id, "status": "queued"})
                pipe.hsetnx(key, f"sub:{name}", queued)
            pipe.expire(key, TTL_S)
            pipe.zadd(self.recent_key, {event_id: published_at})
            pipe.zremrangebyrank(self.recent_key, 0, -KEEP - 1)
            pipe.execute()

    def outcome(
        self, event_id: str, name: str, message_id: str, status: str, error: str | None = None
    ) -> None:
        """A subscriber's run ended; ``attempts`` counts its runs."""
        key = self.event_key(event_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, f"runs:{name}", 1)
            pipe.hset(key, f"sub:{name}", json.dumps(_outcome(message_id, status, error)))
            pipe.expire(key, TTL_S)
            pipe.execute()

    def recent(self, limit: int = 50, topic: str | None = None) -> list[EventRecord]:
        """Newest first; with ``topic``, only that topic's among the newest ``KEEP``."""
        ids = self.client.zrevrange(self.recent_key, 0, (KEEP if topic else limit) - 1)
        with self.client.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hgetall(self.event_key(bytes(event_id).decode()))
            rows = pipe.execute()
        found = []
        for event_id, raw in zip(ids, rows, strict=True):
            record = _record(bytes(event_id).decode(), raw) if raw else None
            if record is not None and (topic is None or record.topic == topic):
                found.append(record)
        return found[:limit]

    def get(self, event_id: str) -> EventRecord | None:
        raw = self.client.hgetall(self.event_key(event_id))
        return _record(event_id, raw) if raw else None


def _outcome(message_id: str, status: str, error: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"message_id": message_id, "status": status, "at": time.time()}
    if error:
        data["error"] = error[:500]
    return data


def _record(event_id: str, raw: dict[bytes, bytes]) -> EventRecord | None:
    text = {bytes(k).decode(): bytes(v).decode() for k, v in raw.items()}
    if "topic" not in text:  # an outcome outlived its event's record
        return None
    subscribers = [
        SubscriberOutcome(
            name=name.removeprefix("sub:"),
            attempts=int(text.get("runs:" + name.removeprefix("sub:"), 0)),
            **json.loads(value),
        )
        for name, value in sorted(text.items())
        if name.startswith("sub:")
    ]
    return EventRecord(
        event_id,
        text["topic"],
        float(text["published_at"]),
        json.loads(text["payload"]),
        subscribers,
    )
