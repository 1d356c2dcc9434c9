"""What providers report after a send, applied to the delivery log and the suppression list.

A Lua script applies a batch (a SendGrid post holds up to about a thousand events) in parts of
``CHUNK`` events, all sent in one round trip: Redis runs one part at a time, so other clients
(the workers) wait for a part, never for a whole batch. Each event is applied once: its id is
remembered (``seen_ttl_s``, three days: SendGrid retries for a day, SNS for less), and a
duplicate is counted and skipped. A request may carry a mark of its own (its signature, or
SNS's message id), set by its last part: a request whose mark is set is a replay, and every
part of it changes nothing. A request cut off half-way (Redis lost) sets no mark, so the
provider's retry applies the rest, the parts already applied being duplicates.

An event finds its record by mailer's message id when the provider echoed it back, else by
the provider's id through the index ``DeliveryLog`` keeps for SES and SendGrid sends.
The record's status moves only forward (``opened`` is not undone by a late ``delivered``);
every event is appended to the record's attempts and counted in the metrics as
``<status>|<provider>|<template>``, as the worker's own events are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from mailer.provider_events import ProviderEvent
from mailer.stores.delivery_search import DEFAULT_RETENTION_S, Attempt, DeliverySearch
from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Batch, Script
from mailer.stores.suppression import SuppressionList, normalise

__all__ = ["REPORTING_BACKENDS", "Applied", "DeliveryEvents", "index_provider_id", "provider_key"]

SEEN_TTL_S = 3 * 24 * 3600
#: The backends whose events come back by webhook, keyed by the id they answered a send with.
REPORTING_BACKENDS = ("ses", "sendgrid")
#: Events per script call: a few milliseconds of Redis's time each.
CHUNK = 100
_APPLY = Script("set_status.lua", "apply_provider_events.lua")


def provider_key(prefix: str, provider: str, provider_id: str) -> str:
    """Where the delivery log keeps which message a provider's id belongs to."""
    return namespaced(prefix, "log", "provider", provider, provider_id)


def index_provider_id(
    batch: Batch, prefix: str, message_id: str, attempt: Attempt, ttl_s: int
) -> None:
    """As part of the delivery log's write of a sent attempt: which message the provider's id
    belongs to, for the backends whose events come back by webhook."""
    if attempt.backend in REPORTING_BACKENDS and attempt.provider_id:
        key = provider_key(prefix, attempt.backend, attempt.provider_id)
        batch.writes.set(key, message_id, ex=ttl_s)


@dataclass(frozen=True)
class Applied:
    """What a batch did: events applied to a record, seen before, or with no record found
    (sent by something else, or older than the log's retention; suppression still applies)."""

    applied: int
    duplicates: int
    unmatched: int


class DeliveryEvents:
    def __init__(
        self,
        client: redis.Redis,
        *,
        retention_s: int = DEFAULT_RETENTION_S,
        seen_ttl_s: int = SEEN_TTL_S,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.client = client
        self.retention_s = retention_s
        self.seen_ttl_s = seen_ttl_s
        self.prefix = prefix
        self._log = DeliverySearch(client, retention_s=retention_s, prefix=prefix)
        self._suppressed = SuppressionList(client, prefix=prefix).key

    def apply(
        self, events: Sequence[ProviderEvent], *, request: str = "", request_ttl_s: int = 0
    ) -> Applied | None:
        """Apply ``events`` once each; None, and nothing changed, if ``request`` (a mark
        unique to the request, kept ``request_ttl_s``) was applied before."""
        now = time.time()
        config = {
            "now": now,
            "retention": self.retention_s,
            "request": namespaced(self.prefix, "provider-events", "request", request)
            if request
            else "",
            "request_ttl": max(1, int(request_ttl_s)),
            "seen_prefix": namespaced(self.prefix, "provider-events", "seen", ""),
            "seen_ttl": self.seen_ttl_s,
            "record_prefix": self._log.record_key(""),
            "index_prefix": self._log.index_prefix,
            "provider_prefix": provider_key(self.prefix, "", "")[:-1],
            "suppressed": self._suppressed,
            "metrics": self._log.metrics_key("events"),
            "hourly": self._log.hourly_key(int(now // 3600)),
        }
        parts = [events[n : n + CHUNK] for n in range(0, len(events), CHUNK)] or [events]
        replies: list[list[int]] = []
        batch = Batch(self.client)
        for number, part in enumerate(parts, 1):
            args = [json.dumps({**config, "mark": number == len(parts)}), _events_json(part)]
            batch.script(_APPLY, [], args, then=replies.append)
        batch.execute()
        if not all(reply[0] for reply in replies):
            return None
        applied, duplicates, unmatched = (sum(int(r[i]) for r in replies) for i in (1, 2, 3))
        return Applied(applied, duplicates, unmatched)


def _events_json(events: Sequence[ProviderEvent]) -> str:
    return json.dumps([_event_json(event) for event in events])


def _event_json(event: ProviderEvent) -> dict[str, object]:
    return {
        "provider": event.provider,
        "event_id": event.event_id,
        "status": event.status,
        "at": event.at,
        "message_id": event.message_id or "",
        "provider_id": event.provider_id or "",
        # cjson decodes [] as an empty table and ipairs walks it: an empty list is safe here.
        "recipients": [normalise(address) for address in event.recipients],
        "suppress": event.suppress or "",
        "detail": event.detail,
    }
