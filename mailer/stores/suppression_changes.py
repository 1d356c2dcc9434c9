"""Who put an address on the suppression list or took it off, when, and why.

The list itself (``mailer.stores.suppression``) keeps an address's current reason only; taking
one off is a decision someone may have to answer for ("why is she getting the newsletter
again?"), so the dashboard records each change it makes here, with the operator's own words:
a capped list, newest first, kept ``KEEP`` entries long.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.suppression import SuppressionList, normalise

KEEP = 1_000
MAX_NOTE_CHARS = 300


@dataclass(frozen=True)
class Change:
    address: str
    action: str  # "added" or "removed"
    reason: str
    by: str
    at: float


class SuppressionChanges:
    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.key = namespaced(prefix, "suppressed", "changes")

    def record(self, address: str, action: str, reason: str, by: str) -> None:
        change = {
            "address": normalise(address),
            "action": action,
            "reason": reason[:MAX_NOTE_CHARS],
            "by": by,
            "at": time.time(),
        }
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(self.key, json.dumps(change))
            pipe.ltrim(self.key, 0, KEEP - 1)
            pipe.execute()

    def recent(self, limit: int = 20, address: str | None = None) -> list[Change]:
        """Newest first; with ``address``, that address's among the last ``KEEP``."""
        raws = self.client.lrange(self.key, 0, (KEEP if address else limit) - 1)
        changes = [Change(**json.loads(raw)) for raw in raws]
        if address:
            changes = [c for c in changes if c.address == normalise(address)]
        return changes[:limit]


def search(suppression: SuppressionList, text: str, limit: int) -> list[tuple[str, str, float]]:
    """Entries whose address starts with ``text``, or, for ``@domain``, ends with the domain:
    ``(address, reason, since)``, sorted by address, at most ``limit``."""
    pattern = _glob(text.strip().lower())
    found = []
    for address, entry in suppression.client.hscan_iter(suppression.key, match=pattern, count=1000):
        data = json.loads(entry)
        found.append((bytes(address).decode(), str(data["reason"]), float(data["at"])))
        if len(found) >= limit:
            break
    return sorted(found)


def _glob(text: str) -> str:
    escaped = "".join("\\" + ch if ch in "*?[]\\^" else ch for ch in text)
    if not escaped:
        return "*"
    return f"*{escaped}" if escaped.startswith("@") else f"{escaped}*"
