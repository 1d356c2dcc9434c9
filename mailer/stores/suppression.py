"""The suppression list: addresses mailer will not send to, checked by the worker on every send.

An address goes on it when its owner unsubscribes (the one-click link in every bulk email),
when it bounces or complains, or by hand (``mailer suppress add``). The worker checks the
recipients of each email just before rendering it, not when it is queued, so an address
suppressed while a newsletter drains stops receiving it at once. Email types declared
``transactional`` (a password reset, a booking confirmation) are exempt: the person asked
for that very email, and unsubscribing from news must not lock them out of their account.

Addresses are kept by their lower-cased ``local@domain`` in one Redis hash, with the reason
and the time, so a check of a message's recipients is one ``HMGET``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import redis

from mailer.addresses import addr_spec
from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Batch

#: Why an address is suppressed; free text is refused so reports can group by reason.
REASONS = ("unsubscribed", "bounced", "complained", "manual")


@dataclass(frozen=True)
class Suppression:
    address: str
    reason: str
    at: float


class SuppressionList:
    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.key = namespaced(prefix, "suppressed")

    def add(self, addresses: Iterable[str], reason: str) -> int:
        """Suppress ``addresses``; returns how many were not suppressed before."""
        entry = json.dumps({"reason": reason, "at": time.time()})
        mapping = {normalise(address): entry for address in addresses}
        if not mapping:
            return 0
        known = self.client.hmget(self.key, list(mapping))
        self.client.hset(self.key, mapping=mapping)
        return sum(1 for value in known if value is None)

    def add_into(self, batch: Batch, addresses: Iterable[str], reason: str) -> None:
        """``add`` as part of ``batch``, without counting what was new."""
        entry = json.dumps({"reason": reason, "at": time.time()})
        mapping = {normalise(address): entry for address in addresses}
        if mapping:
            batch.pipe.hset(self.key, mapping=mapping)

    def remove(self, addresses: Iterable[str]) -> int:
        keys = [normalise(address) for address in addresses]
        return int(self.client.hdel(self.key, *keys)) if keys else 0

    def suppressed(self, addresses: Sequence[str]) -> set[str]:
        """Which of ``addresses`` (as given) are suppressed, in one round trip."""
        if not addresses:
            return set()
        found = self.client.hmget(self.key, [normalise(address) for address in addresses])
        return {
            address for address, entry in zip(addresses, found, strict=True) if entry is not None
        }

    def get(self, address: str) -> Suppression | None:
        entry = self.client.hget(self.key, normalise(address))
        return None if entry is None else _suppression(normalise(address), entry)

    def __iter__(self) -> Iterator[Suppression]:
        for address, entry in self.client.hscan_iter(self.key, count=1_000):
            yield _suppression(address.decode(), entry)

    def __len__(self) -> int:
        return int(self.client.hlen(self.key))


def normalise(address: str) -> str:
    """``Ann <Ann@Example.com>`` and ``ann@example.com`` are one mailbox to suppress."""
    return addr_spec(address).lower()


def _suppression(address: str, entry: bytes | str) -> Suppression:
    data = json.loads(entry)
    return Suppression(address, str(data["reason"]), float(data["at"]))
