"""Wake-up streams beside Dramatiq's queues, so an idle consumer learns of a message at once.

Dramatiq's Redis consumer looks at an empty queue again after a back-off sleep of up to the
worker's timeout: an email landing on an idle queue waited for the next look. Instead, every
write that puts a message on a queue also adds an entry to the queue's wake stream
(``<namespace>:<queue>.wake``, trimmed to one entry), and a consumer with nothing to fetch
blocks in ``XREAD`` on that stream, from the last entry it has seen, until one arrives or its
timeout ends. A stream rather than a pub/sub channel: an entry added while a consumer was
busy, or reconnecting, is still there when it asks, so no wake-up is ever missed.

Every producer path goes through here: ``enqueue`` (one message: one script, one round
trip), and ``wake_into`` for the batch writers, one entry per queue per batch.
"""

from __future__ import annotations

from typing import Any

import redis

from mailer.stores.scripts import Script

_ENQUEUE = Script("queue_enqueue.lua")
#: The field every wake entry carries; its value means nothing.
_ENTRY = {"n": "1"}


def queue_key(namespace: str, queue_name: str) -> str:
    """Dramatiq's list of a queue's redis message ids."""
    return f"{namespace}:{queue_name}"


def wake_key(namespace: str, queue_name: str) -> str:
    """The stream a queue's idle consumers block on."""
    return f"{namespace}:{queue_name}.wake"


def enqueue(
    client: redis.Redis,
    namespace: str,
    queue_name: str,
    redis_message_id: str,
    data: bytes,
    *,
    unrecorded_key: str | None = None,
) -> None:
    """Store and queue one message as Dramatiq does, and wake the queue, in one round trip;
    given ``unrecorded_key``, also leave the message there for its ``queued`` record
    (``mailer.stores.unrecorded``)."""
    queue = queue_key(namespace, queue_name)
    keys = [queue, f"{queue}.msgs", wake_key(namespace, queue_name)]
    if unrecorded_key is not None:
        keys.append(unrecorded_key)
    _ENQUEUE(client, keys, [redis_message_id, data])


def wake_into(pipe: Any, namespace: str, queue_name: str) -> None:
    """Add ``queue_name``'s wake-up to a pipeline or transaction that queues messages on it."""
    pipe.xadd(wake_key(namespace, queue_name), _ENTRY, maxlen=1, approximate=False)


def wake(client: redis.Redis, namespace: str, queue_name: str) -> None:
    """Wake ``queue_name``'s idle consumers: messages were put back on it."""
    wake_into(client, namespace, queue_name)
