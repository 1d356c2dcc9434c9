"""Dramatiq's dead-letter sets read as one list, newest first, a page at a time per queue.

Dramatiq's Redis broker keeps each queue's dead letters in a sorted set ``<ns>:<queue>.XQ``,
scored by when they died (ms), beside a hash ``<ns>:<queue>.XQ.msgs`` of the messages, both
under the id the broker filed the message by (its ``redis_message_id``); it drops them after a
week. Reading each queue a page at a time and merging the pages lazily means listing the latest
hundred of many thousand costs a few pages.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.common import q_name
from dramatiq.errors import DecodeError

logger = logging.getLogger(__name__)

#: How many letters of one queue a read fetches at once.
PAGE = 200


@dataclass(frozen=True)
class StoredLetter:
    """A letter as the broker keeps it, before the delivery log is asked for its error."""

    queue_name: str
    dead_at: float  # epoch seconds
    message: dramatiq.Message[Any]


def dead_set_key(namespace: str, queue_name: str) -> str:
    """The sorted set of ``queue_name``'s dead letters; ``+ ".msgs"`` is their hash."""
    return f"{namespace}:{q_name(queue_name)}.XQ"


def newest_first(
    client: redis.Redis, namespace: str, queue_names: Iterable[str]
) -> Iterator[StoredLetter]:
    """Every queue's letters merged, newest first, each queue read a page at a time."""
    walks = [_walk(client, namespace, name) for name in queue_names]
    return heapq.merge(*walks, key=lambda stored: stored.dead_at, reverse=True)


def last_line(traceback: object) -> str | None:
    """The exception line a traceback ends with, e.g. ``SMTPServerDisconnected: ...``."""
    if not isinstance(traceback, str):
        return None
    lines = [line.strip() for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def _walk(client: redis.Redis, namespace: str, queue_name: str) -> Iterator[StoredLetter]:
    key = dead_set_key(namespace, queue_name)
    for offset in itertools.count(0, PAGE):
        page = client.zrevrange(key, offset, offset + PAGE - 1, withscores=True)
        if not page:
            return
        bodies = client.hmget(key + ".msgs", [member for member, _ in page])
        for (_, score), body in zip(page, bodies, strict=True):
            message = _decode(body) if body is not None else None
            if message is not None:  # None: removed since the page was read
                yield StoredLetter(queue_name, float(score) / 1000, message)
        if len(page) < PAGE:
            return


def _decode(body: bytes) -> dramatiq.Message[Any] | None:
    try:
        return dramatiq.Message.decode(body)
    except DecodeError as err:
        logger.warning("Skipped a dead letter that does not decode: %s", err)
        return None
