"""Reading the delivery log: one message's record, searches, and hourly totals.

Records are written by ``mailer.stores.delivery_log``; each is indexed by recipient, type,
status and time (sorted sets scored by creation time), so "what happened to the email for
ann@example.com?" is one lookup.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis

from mailer.addresses import addr_spec
from mailer.stores.keys import DEFAULT_PREFIX, namespaced


@dataclass(frozen=True)
class Attempt:
    at: float
    outcome: str  # "sent", "failed", "throttled"
    backend: str | None = None
    provider_id: str | None = None
    error: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class Delivery:
    message_id: str
    template: str
    to: list[str]
    queue_name: str
    status: str
    created_at: float
    updated_at: float
    throttled: int = 0
    backend: str | None = None
    provider_id: str | None = None
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)


class DeliverySearch:
    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self.index_prefix = namespaced(prefix, "log", "index")

    def record_key(self, message_id: str) -> str:
        return namespaced(self.prefix, "log", "message", message_id)

    def index_key(self, *parts: str) -> str:
        return namespaced(self.index_prefix, *parts)

    def hourly_key(self, hour: int) -> str:
        return namespaced(self.prefix, "log", "hourly", str(hour))

    def metrics_key(self, name: str) -> str:
        """The counters (``events``) and the send-latency histogram (``latency``)."""
        return namespaced(self.prefix, "metrics", name)

    # --- reading --------------------------------------------------------------------------

    def get(self, message_id: str) -> Delivery | None:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.record_key(message_id))
            pipe.lrange(self.record_key(message_id) + ":attempts", 0, -1)
            raw, attempts = pipe.execute()
        if not raw:
            return None
        return _delivery(message_id, raw, attempts)

    def search(
        self,
        *,
        to: str | None = None,
        status: str | None = None,
        template: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """Newest first. The most selective index is read; the other criteria filter it."""
        if to is not None:
            index = self.index_key("to", addr_spec(to).lower())
        elif template is not None:
            index = self.index_key("template", template)
        elif status is not None:
            index = self.index_key("status", status)
        else:
            index = self.index_key("all")
        found: list[Delivery] = []
        for delivery in self._walk(index, since, until):
            if (status is None or delivery.status == status) and (
                template is None or delivery.template == template
            ):
                found.append(delivery)
                if len(found) >= limit:
                    break
        return found

    def _walk(self, index: str, since: float | None, until: float | None) -> Iterator[Delivery]:
        high: float | str = "+inf" if until is None else until
        low: float | str = "-inf" if since is None else since
        offset, page = 0, 200
        while True:
            ids = self.client.zrevrangebyscore(index, high, low, start=offset, num=page)
            for message_id in ids:
                delivery = self.get(bytes(message_id).decode())
                if delivery is not None:  # expired, or trimmed past the retention
                    yield delivery
            if len(ids) < page:
                return
            offset += page

    def hourly_totals(self, hours: int = 24) -> list[tuple[int, dict[str, int]]]:
        """``[(hour start as epoch s, {"sent|welcome": n, ...}), ...]``, oldest first."""
        this_hour = int(time.time() // 3600)
        hours_wanted = range(this_hour - hours + 1, this_hour + 1)
        with self.client.pipeline(transaction=False) as pipe:
            for hour in hours_wanted:
                pipe.hgetall(self.hourly_key(hour))
            rows = pipe.execute()
        return [
            (hour * 3600, {bytes(k).decode(): int(v) for k, v in row.items()})
            for hour, row in zip(hours_wanted, rows, strict=True)
        ]


def _delivery(message_id: str, raw: dict[bytes, bytes], attempts: list[bytes]) -> Delivery:
    text = {bytes(k).decode(): bytes(v).decode() for k, v in raw.items()}
    return Delivery(
        message_id=message_id,
        template=text.get("template", ""),
        to=json.loads(text.get("to", "[]")),
        queue_name=text.get("queue_name", ""),
        status=text["status"],
        created_at=float(text["created_at"]),
        updated_at=float(text["updated_at"]),
        throttled=int(text.get("throttled", 0)),
        backend=text.get("backend") or None,
        provider_id=text.get("provider_id") or None,
        error=text.get("error") or None,
        attempts=[Attempt(**json.loads(a)) for a in attempts],
    )
