"""The one round trip an email passes before a worker renders it (``lua/begin_send.lua``).

Before a send, a worker must know five things, each kept in Redis by its own store: whether
the message was sent already (receipts), whether another worker is sending it (claims), which
recipients are suppressed, which backend the failover circuit sends through, and whether the
rate limit has a slot for that backend; and the delivery log must say ``sending``. Asked one
by one, that is five round trips per email, each waiting for the GIL behind rendering threads.
This store asks them all in one script, using the other stores' keys and Lua functions.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq

from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.failover import Failover
from mailer.stores.rate_limiter import ALL, RateLimiter
from mailer.stores.receipts import Receipt, Receipts, new_token, receipt_from
from mailer.stores.scripts import Script
from mailer.stores.suppression import SuppressionList, normalise

_BEGIN = Script(
    "now.lua",
    "claim.lua",
    "circuit_choose.lua",
    "rate_acquire.lua",
    "set_status.lua",
    "begin_send.lua",
)


@dataclass(frozen=True)
class Recipients:
    """Whom to check against the suppression list: none for a transactional email."""

    to: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # cc and bcc: dropped if suppressed, never a reason to skip


@dataclass(frozen=True)
class Gate:
    """What the script answered. ``verdict`` is one of:

    - ``sent``: a receipt exists (``receipt``); the message must not be sent again;
    - ``busy``: another worker holds the claim for ``wait_ms``;
    - ``suppressed``: every ``to`` recipient is suppressed (the claim is held);
    - ``wait``: the rate limit (or a provider's pause, ``paused``) says wait ``wait_ms``;
    - ``go``: claimed, a slot held for ``backend``, logged ``sending``.
    """

    verdict: str
    token: str
    backend: str = ""
    probe: bool = False
    wait_ms: int = 0
    bucket: str | None = None
    paused: bool = False
    suppressed: frozenset[str] = frozenset()
    receipt: Receipt | None = None
    #: When the answer came (``time.monotonic()``): a wait counts from here, not from later.
    answered_at_s: float = field(default_factory=time.monotonic)


class SendGate:
    def __init__(
        self,
        receipts: Receipts,
        suppression: SuppressionList,
        failover: Failover,
        limiter: RateLimiter,
        log: DeliveryLog,
    ) -> None:
        self.receipts = receipts
        self.suppression = suppression
        self.failover = failover
        self.limiter = limiter
        self.log = log

    def begin(
        self,
        message: dramatiq.Message[Any],
        recipients: Recipients,
        *,
        queued: bool,
        token: str | None = None,
    ) -> Gate:
        """Pass ``message`` through the gate; ``queued``: it already waited its turn once.
        ``token`` names the claim: a new one, or the one an earlier try may have taken."""
        token = token or new_token()
        reply = _BEGIN(
            self.receipts.client,
            self._keys(message),
            self._args(message, token, recipients, queued),
        )
        return self._gate(message.message_id, token, reply)

    def begin_ahead(
        self,
        message: dramatiq.Message[Any],
        recipients: Recipients,
        *,
        queued: bool,
        token: str,
        send: Callable[[Script, list[str], list[Any]], Callable[[], Any]],
    ) -> Callable[[], Gate]:
        """As ``begin``, the call sent now by ``send`` (``mailer.worker.settler``); the
        function returned reads the answer. A wait counts from when the call went out."""
        sent_s = time.monotonic()
        answer = send(_BEGIN, self._keys(message), self._args(message, token, recipients, queued))
        return lambda: self._gate(message.message_id, token, answer(), sent_s)

    def _keys(self, message: dramatiq.Message[Any]) -> list[str]:
        primary, fallback = self.failover.primary, self.failover.fallback or self.failover.primary
        lane, limiter, message_id = message.queue_name, self.limiter, message.message_id
        return [
            self.receipts.receipt_key(message_id),
            self.receipts.claim_key(message_id),
            self.suppression.key,
            *self.failover.keys,
            self.log.record_key(message_id),
            self.log.index_prefix,
            *(key for bucket in (ALL, primary, fallback) for key in self._bucket_keys(bucket)),
            limiter.ticket_key((ALL, primary), lane),
            limiter.ticket_key((ALL, fallback), lane),
            self.failover.kept_key(message_id),
        ]

    def _bucket_keys(self, bucket: str) -> tuple[str, str]:
        return self.limiter.slots_key(bucket), self.limiter.pause_key(bucket)

    def _args(
        self, message: dramatiq.Message[Any], token: str, recipients: Recipients, queued: bool
    ) -> list[Any]:
        checked = ""
        if recipients.to or recipients.others:
            to = [normalise(address) for address in recipients.to]
            checked = json.dumps({"to": to, "other": [normalise(a) for a in recipients.others]})
        limits = self.limiter.limits
        primary, fallback = self.failover.primary, self.failover.fallback or ""
        return [
            token,
            self.receipts.lease_ms,
            checked,
            int(bool(self.failover.fallback)),
            self.failover.probe_lease_ms,
            self.limiter.window_ms,
            self.limiter.hold_ms,
            int(queued),
            limits.get(ALL, 0),
            limits.get(primary, 0),
            limits.get(fallback, 0),
            message.message_id,
            *self.log.sending_args(message),
            *self.failover.kept_args(),
        ]

    def _gate(
        self, message_id: str, token: str, reply: list[Any], sent_s: float | None = None
    ) -> Gate:
        gate = self._verdict(message_id, token, reply)
        return gate if sent_s is None else dataclasses.replace(gate, answered_at_s=sent_s)

    def _verdict(self, message_id: str, token: str, reply: list[Any]) -> Gate:
        verdict = int(reply[0])
        if verdict == 0:
            receipt = receipt_from(
                message_id, dict(zip(reply[1][::2], reply[1][1::2], strict=True))
            )
            return Gate("sent", token, receipt=receipt)
        if verdict == 1:
            return Gate("busy", token, wait_ms=int(reply[1]))
        suppressed = frozenset(json.loads(reply[-1]))
        if verdict == 2:
            return Gate("suppressed", token, suppressed=suppressed)
        backend = self.failover.chosen(int(reply[1]))
        probe = int(reply[1]) == 2
        if verdict == 3:
            buckets = (ALL, backend)
            bucket = buckets[int(reply[3]) - 1] if int(reply[3]) else None
            return Gate(
                "wait",
                token,
                backend,
                probe,
                int(reply[2]),
                bucket,
                bool(int(reply[4])),
                suppressed,
            )
        return Gate("go", token, backend, probe, suppressed=suppressed)
