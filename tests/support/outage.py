"""What outage tests read back: which message ids an SMTP server got, and how often, and
the part of a worker's log worth showing when one fails."""

from __future__ import annotations

import collections
from collections.abc import Iterable

import redis

from tests.support.api_process import call_api
from tests.support.smtp_server import SMTPSink


def received_ids(sink: SMTPSink) -> collections.Counter[str]:
    """mailer's message id of each accepted email (its Message-ID is ``<id@domain>``)."""
    return collections.Counter(
        str(r.message["Message-ID"]).strip("<>").split("@")[0] for r in sink.messages
    )


def statuses(redis_url: str, message_ids: Iterable[str]) -> dict[str, str | None]:
    """Each message's status in the delivery log, read through ``mailer.delivery_status``."""
    ids = list(message_ids)
    found = call_api(redis_url, [("delivery_status", (m,), {}) for m in ids])
    return {m: None if d is None else d["status"] for m, d in zip(ids, found, strict=True)}


def log_excerpt(log: str, message_ids: Iterable[str] = (), limit: int = 40) -> str:
    """What a failure shows: every line naming one of ``message_ids``, then the worker's last
    ``limit`` warnings and errors, in the order they were written."""
    lines = log.splitlines()
    ids = list(message_ids)
    naming = [line for line in lines if any(m in line for m in ids)]
    troubles = [line for line in lines if any(f"[{level}]" in line for level in _TROUBLE)]
    return "\n".join(["--- naming them:", *naming, "--- last troubles:", *troubles[-limit:]])


_TROUBLE = ("WARNING", "ERROR", "CRITICAL")


def whereabouts(redis_url: str, message_ids: Iterable[str]) -> dict[str, list[str]]:
    """Every Dramatiq key of ``redis_url`` that holds each message, by id: its queue, the delay
    queue, a worker's unacked set, the dead letters, the bodies (``.msgs``). Dramatiq files a
    message under a Redis id of its own, one per enqueue, looked up in the bodies first."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match="dramatiq:*", count=1000))
        tokens = {m: {m} for m in message_ids}
        for key in (k for k in keys if k.endswith(b".msgs")):
            for redis_id, body in client.hgetall(key).items():
                for message_id, known in tokens.items():
                    if message_id.encode() in body:
                        known.add(redis_id.decode())
        found: dict[str, list[str]] = {m: [] for m in tokens}
        for key in keys:
            text = _contents(client, key)
            for message_id, known in tokens.items():
                found[message_id] += [key.decode()] * sum(token in text for token in known)
        return found
    finally:
        client.close()


def _contents(client: redis.Redis, key: bytes) -> str:
    kind = client.type(key).decode()
    if kind == "list":
        items = client.lrange(key, 0, -1)
    elif kind == "zset":
        items = client.zrange(key, 0, -1)
    elif kind == "hash":
        items = list(client.hkeys(key))
    elif kind == "set":
        items = list(client.smembers(key))
    else:
        items = []
    return "\n".join(item.decode(errors="replace") for item in items)
