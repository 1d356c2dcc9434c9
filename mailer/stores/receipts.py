"""Send receipts and claims: a message id is sent once, by one worker at a time.

Dramatiq delivers at least once. A worker that dies after the provider accepted an email but
before the ack has that message redelivered; a put-back copy and its original can both exist
if a worker dies between the two steps; a scheduler can enqueue an entry twice. Every copy
carries the same message id, and the receipt written right after the provider's answer,
before the ack, turns every later copy into a no-op. A claim keeps two live copies from
sending at once.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import redis

from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Batch, Script

_CHECK_AND_CLAIM = Script("claim.lua", "claim_main.lua")
_RECORD = Script("record_receipt.lua")
_RELEASE = Script("delete_if_equal.lua")


def new_token() -> str:
    """A claim's token: 128 random bits that tell one holder from another. Unique, not
    secret, so drawn without the system call ``uuid4`` makes, which on a busy worker hands
    the interpreter lock to another thread and back."""
    return f"{random.getrandbits(128):032x}"


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

    def __init__(
        self, client: redis.Redis, ttl_s: int, lease_s: float, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.lease_ms = int(lease_s * 1000)
        self.prefix = prefix

    def receipt_key(self, message_id: str) -> str:
        return namespaced(self.prefix, "sent", message_id)

    def claim_key(self, message_id: str) -> str:
        return namespaced(self.prefix, "sending", message_id)

    def get(self, message_id: str) -> Receipt | None:
        return receipt_from(message_id, self.client.hgetall(self.receipt_key(message_id)))

    def check_and_claim(self, message_id: str) -> tuple[Receipt | None, str | None, int]:
        """``(receipt, None, 0)`` if it was sent already, else ``(None, token, 0)`` when
        claimed now, or ``(None, None, ms)`` until another worker's claim frees."""
        token = new_token()
        message_keys = [self.receipt_key(message_id), self.claim_key(message_id)]
        verdict, value = _CHECK_AND_CLAIM(self.client, message_keys, [token, self.lease_ms])
        if int(verdict) == 0:
            return receipt_from(message_id, _pairs(value)), None, 0
        if int(verdict) == 1:
            return None, token, 0
        return None, None, int(value)

    def claim(self, message_id: str) -> tuple[str | None, int]:
        """Claim the send of ``message_id``: ``(token, 0)``, or ``(None, ms)`` until it frees."""
        token = new_token()
        if self.client.set(self.claim_key(message_id), token, nx=True, px=self.lease_ms):
            return token, 0
        remaining = int(self.client.pttl(self.claim_key(message_id)))
        return (None, remaining) if remaining > 0 else self.claim(message_id)

    def record(
        self, message_id: str, backend: str, provider_id: str, *, release: str | None = None
    ) -> Receipt:
        """Write the receipt and, given the claim's token, let the claim go, in one call."""
        batch = Batch(self.client)
        receipt = self.record_into(batch, message_id, backend, provider_id, release=release)
        batch.execute()
        return receipt

    def record_into(
        self,
        batch: Batch,
        message_id: str,
        backend: str,
        provider_id: str,
        *,
        release: str | None = None,
    ) -> Receipt:
        """``record`` as part of ``batch``."""
        receipt = Receipt(message_id, backend, provider_id, time.time())
        message_keys = [self.receipt_key(message_id), self.claim_key(message_id)]
        args = [backend, provider_id, receipt.sent_at, self.ttl_s, release or ""]
        batch.script(_RECORD, message_keys, args)
        return receipt

    def release(self, message_id: str, token: str) -> None:
        _RELEASE(self.client, [self.claim_key(message_id)], [token])

    def release_into(self, batch: Batch, message_id: str, token: str) -> None:
        batch.script(_RELEASE, [self.claim_key(message_id)], [token])


def receipt_from(message_id: str, fields: dict[bytes, bytes]) -> Receipt | None:
    """A receipt from its hash's fields, as HGETALL (or a script) returns them."""
    if not fields:
        return None
    text = {bytes(k).decode(): bytes(v).decode() for k, v in fields.items()}
    return Receipt(message_id, text["backend"], text["provider_id"], float(text["sent_at"]))


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
