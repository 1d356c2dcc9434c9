"""Sending once: idempotency keys at the call site and send receipts in the worker.

Two different duplicates are stopped here. A caller that submits the same request twice (a
double-clicked form, a retried webhook) passes the same ``idempotency_key`` and gets the first
message id back instead of a second email. A worker that dies after the provider accepted a
message but before the ack would have it redelivered and sent again; the receipt written right
after the provider's answer, before the ack, makes the redelivered copy a no-op.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis

from mailer.stores import keys as store


class IdempotencyKeys:
    """``idempotency_key`` → the id of the first message sent with it, for ``ttl_s`` seconds."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def claim(self, key: str, message_id: str) -> str | None:
        """Bind ``key`` to ``message_id``; returns the earlier message's id if it was bound."""
        name = store.key("idempotency", key)
        if self.client.set(name, message_id, nx=True, ex=self.ttl_s):
            return None
        earlier = self.client.get(name)
        # Expired between the two calls: the key is free again, so take it.
        if earlier is None:
            return self.claim(key, message_id)
        return bytes(earlier).decode()

    def release(self, key: str, message_id: str) -> None:
        """Unbind ``key`` if it still names ``message_id``: the enqueue it guarded failed."""
        self.client.eval(_DELETE_IF_EQUAL, 1, store.key("idempotency", key), message_id)


@dataclass(frozen=True)
class Receipt:
    """What the provider confirmed for one message: who sent it, its id there, and when."""

    message_id: str
    backend: str
    provider_id: str
    sent_at: float


class Receipts:
    """Confirmed sends and in-progress claims, keyed by Dramatiq message id.

    A claim lasts ``lease_s``: long enough for any send, short enough that a message whose
    worker died is free again by the time Dramatiq redelivers it.
    """

    def __init__(self, client: redis.Redis, ttl_s: int, lease_s: float) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.lease_ms = int(lease_s * 1000)
        self._check_and_claim = client.register_script(_CHECK_AND_CLAIM)
        self._record = client.register_script(_RECORD)
        self._release = client.register_script(_DELETE_IF_EQUAL)

    def get(self, message_id: str) -> Receipt | None:
        return _receipt(message_id, self.client.hgetall(store.key("sent", message_id)))

    def check_and_claim(self, message_id: str) -> tuple[Receipt | None, str | None, int]:
        """One round trip before a send: ``(receipt, None, 0)`` if it was sent already, else
        ``claim``'s answer: ``(None, token, 0)``, or ``(None, None, ms)`` until the claim frees."""
        token = uuid.uuid4().hex
        keys = [store.key("sent", message_id), store.key("sending", message_id)]
        verdict, value = self._check_and_claim(keys=keys, args=[token, self.lease_ms])
        if int(verdict) == 0:
            return _receipt(message_id, dict(zip(value[::2], value[1::2], strict=True))), None, 0
        if int(verdict) == 1:
            return None, token, 0
        return None, None, int(value)

    def record(
        self, message_id: str, backend: str, provider_id: str, *, release: str | None = None
    ) -> Receipt:
        """Write the receipt and, given the claim's token, let the claim go in the same call."""
        receipt = Receipt(message_id, backend, provider_id, time.time())
        keys = [store.key("sent", message_id), store.key("sending", message_id)]
        args = [backend, provider_id, receipt.sent_at, self.ttl_s, release or ""]
        self._record(keys=keys, args=args)
        return receipt

    def claim(self, message_id: str) -> tuple[str | None, int]:
        """Claim the send of ``message_id``: ``(token, 0)``, or ``(None, ms)`` until it frees."""
        token = uuid.uuid4().hex
        name = store.key("sending", message_id)
        if self.client.set(name, token, nx=True, px=self.lease_ms):
            return token, 0
        remaining = int(self.client.pttl(name))
        return (None, remaining) if remaining > 0 else self.claim(message_id)

    def release(self, message_id: str, token: str) -> None:
        self._release(keys=[store.key("sending", message_id)], args=[token])


def _receipt(message_id: str, fields: dict[bytes, bytes]) -> Receipt | None:
    if not fields:
        return None
    text = {bytes(k).decode(): bytes(v).decode() for k, v in fields.items()}
    return Receipt(message_id, text["backend"], text["provider_id"], float(text["sent_at"]))


# KEYS: the receipt, the claim. ARGV: token, lease_ms. {0, receipt fields} when sent already;
# {1} when claimed now; {2, ms} while another holds the claim (a claim without a TTL, which
# only a bug could leave, is taken over rather than waited on forever).
_CHECK_AND_CLAIM = """
local sent = redis.call('HGETALL', KEYS[1])
if #sent > 0 then return {0, sent} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, ''} end
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return {2, left} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {1, ''}
"""

# KEYS: the receipt, the claim. ARGV: backend, provider id, sent_at, ttl_s, the claim's token
# (empty: keep the claim).
_RECORD = """
redis.call('HSET', KEYS[1], 'backend', ARGV[1], 'provider_id', ARGV[2], 'sent_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[5] ~= '' and redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
"""

# Delete a key only while it holds the value we set, never one somebody else set since.
_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
