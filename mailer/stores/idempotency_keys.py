"""Idempotency keys: a caller that submits the same request twice gets the first message id.

A double-clicked form or a retried webhook passes the same ``idempotency_key``, and the second
``send_email`` returns the first message's id instead of queueing a second email.
"""

from __future__ import annotations

import redis

from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Script

_DELETE_IF_EQUAL = Script("delete_if_equal.lua")


class IdempotencyKeys:
    """``idempotency_key`` → the id of the first message sent with it, for ``ttl_s`` seconds."""

    def __init__(self, client: redis.Redis, ttl_s: int, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.prefix = prefix

    def claim(self, key: str, message_id: str) -> str | None:
        """Bind ``key`` to ``message_id``; returns the earlier message's id if it was bound."""
        name = namespaced(self.prefix, "idempotency", key)
        if self.client.set(name, message_id, nx=True, ex=self.ttl_s):
            return None
        earlier = self.client.get(name)
        # Expired between the two calls: the key is free again, so take it.
        if earlier is None:
            return self.claim(key, message_id)
        return bytes(earlier).decode()

    def release(self, key: str, message_id: str) -> None:
        """Unbind ``key`` if it still names ``message_id``: the enqueue it guarded failed."""
        _DELETE_IF_EQUAL(self.client, [namespaced(self.prefix, "idempotency", key)], [message_id])
