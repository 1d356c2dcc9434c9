"""The delivery log: what happened to each email, kept in Redis and searchable.

At 3 a.m. the question is "what happened to the email for ann@example.com?". Each message gets
one record (type, recipients, status, every attempt with its time, backend, provider id and
error) and is indexed by recipient, type, status and time, so the answer is one lookup. The
same writes keep totals per hour and type for the dashboard, and all-time counters and a
send-latency histogram for Prometheus, so the log and the metrics can never disagree.

Records expire after the retention (``MAILER_LOG_RETENTION_DAYS``, 30 by default) and every
write trims the indexes it touches, so memory is bounded by the traffic of that period.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dramatiq

from mailer.addresses import addr_spec
from mailer.envelope import Email
from mailer.message import recipients_of, template_of
from mailer.provider_events import PROVIDER_STATUSES
from mailer.stores.delivery_counters import LATENCY_BUCKETS_S, DeliveryCounters
from mailer.stores.delivery_events import index_provider_id
from mailer.stores.delivery_records import attempt_json, packed_content
from mailer.stores.delivery_search import Attempt, Criteria, Delivery, DeliveryPage
from mailer.stores.scripts import Batch, Script
from mailer.stores.unrecorded import record_all, unrecorded_key

__all__ = ["LATENCY_BUCKETS_S", "STATUSES", "Attempt", "Delivery", "DeliveryLog"]

#: ``queued`` (waiting in a queue, also after being put back or requeued), ``sending``,
#: ``sent``, ``retrying`` (an attempt failed; Dramatiq will try again), ``dead`` (in the
#: dead-letter queue, can be requeued), ``failed`` (dead, then purged: nothing left to replay)
#: and ``suppressed`` (every recipient is on the suppression list: deliberately not sent).
#: Then what the provider reported after the send (``mailer.stores.delivery_events``).
STATUSES: tuple[str, ...] = ("queued", "sending", "sent", "retrying", "dead", "failed")
STATUSES += ("suppressed", *PROVIDER_STATUSES)
# When a write may replace a record's status (the status script's last argument).
_ALWAYS, _UNSEEN, _UNLESS_LIVE = "always", "unseen", "unless-live"
_SET_STATUS = Script("set_status.lua", "set_status_main.lua")
_QUEUED_MANY = Script("set_status.lua", "queued_many.lua")
#: Records per script call: enough to make packing cheap, few enough that one call does
#: not hold Redis up for the workers' commands.
_RECORDS_PER_CALL = 10


class DeliveryLog(DeliveryCounters):
    """The log's writes; its reads come from ``DeliverySearch``."""

    @property
    def unrecorded_key(self) -> str:
        """New emails whose ``queued`` record is still to come (``mailer.stores.unrecorded``)."""
        return unrecorded_key(self.prefix)

    def _describe(self, message: dramatiq.Message[Any]) -> tuple[float, dict[str, str], list[str]]:
        """Its creation time, the fields that describe it, and the indexes that find it."""
        to, template = recipients_of(message), template_of(message)
        fields = {"template": template, "to": json.dumps(to), "queue_name": message.queue_name}
        addresses = [addr_spec(a).lower() for a in to]
        indexes = [self.index_key("to", a) for a in addresses]
        domains = dict.fromkeys(a.rpartition("@")[2] for a in addresses)
        indexes.extend(self.index_key("domain", d) for d in domains)
        indexes.append(self.index_key("template", template))
        return message.message_timestamp / 1000, fields, indexes

    # --- writing: one round trip per event ------------------------------------------------

    def sending(self, message: dramatiq.Message[Any]) -> None:
        """A worker took it; describing it again heals a record whose enqueue went unlogged."""
        self._event(message.message_id, "sending", *self._describe(message))

    def settled(self, message_id: str, template: str, status: str, attempt: Attempt) -> None:
        """An attempt ended: ``sent``, ``retrying``, ``dead`` or ``suppressed``."""
        batch = Batch(self.client)
        self.settled_into(batch, message_id, template, status, attempt)
        batch.execute()

    def settled_into(
        self,
        batch: Batch,
        message_id: str,
        template: str,
        status: str,
        attempt: Attempt,
        *,
        describe: dramatiq.Message[Any] | None = None,
    ) -> None:
        """``settled`` as part of ``batch``; ``describe``: the message, when no write so far
        said what it is (a bulk message is logged first by the worker that takes it)."""
        created, fields, indexes = self._describe(describe) if describe else (None, {}, [])
        fields.update(backend=attempt.backend or "", error=attempt.error or "")
        if attempt.provider_id:
            fields["provider_id"] = attempt.provider_id
            index_provider_id(batch, self.prefix, message_id, attempt, self.retention_s)
        event = {"sent": "sent", "retrying": "failed", "dead": "dead"}.get(status, status)
        self._add_event(
            batch,
            message_id,
            status,
            created,
            fields,
            indexes,
            attempt=attempt,
            counts={(event, attempt.backend, template): 1},
            latency_s=attempt.duration_s if status == "sent" else None,
        )

    def content_into(
        self,
        batch: Batch,
        message_id: str,
        email: Email,
        context: Mapping[str, Any],
        sensitive: Iterable[str],
    ) -> None:
        """What the email was made of, ``sensitive`` context values masked before they are
        written (``mailer.stores.delivery_records``), replacing an earlier try's."""
        content = packed_content(email, context, sensitive)
        batch.writes.set(self.content_key(message_id), content, ex=self.retention_s)

    def throttled_into(
        self, batch: Batch, message: dramatiq.Message[Any], delay_ms: int, backend: str | None
    ) -> None:
        """The message was put back to wait for the rate limit or the provider."""
        attempt = Attempt(time.time(), "throttled", backend, error=f"put back for {delay_ms} ms")
        counts = {("throttled", backend, template_of(message)): 1}
        created, fields, indexes = self._describe(message)
        self._add_event(
            batch,
            message.message_id,
            "queued",
            created,
            fields,
            indexes,
            attempt=attempt,
            counts=counts,
            throttled=True,
        )

    def sending_args(self, message: dramatiq.Message[Any]) -> list[str | float | int]:
        """The ``sending`` record's part of a script's arguments: time, created at, retention,
        fields and indexes (``begin_send.lua`` writes it with the claim, in one round trip)."""
        created, fields, indexes = self._describe(message)
        return [time.time(), created, self.retention_s, json.dumps(fields), json.dumps(indexes)]

    def requeued(self, message: dramatiq.Message[Any]) -> None:
        """``queued`` again from the dead letters (by ``mailer dlq requeue`` or the
        dashboard), with the requeue as an attempt of its own, so the message's history reads
        failed, requeued, then what came of it; a record that a worker has made live since
        keeps its status."""
        attempt = Attempt(time.time(), "requeued")
        described = self._describe(message)
        self._event(message.message_id, "queued", *described, attempt=attempt, only_if=_UNLESS_LIVE)

    def purged(self, message_id: str) -> None:
        self._event(message_id, "failed", None, {})

    def queued_all(self, messages: Sequence[dramatiq.Message[Any]]) -> None:
        """New messages, in one round trip (``mailer.stores.unrecorded``'s batch).

        Written off the caller's thread, a record may land after a fast worker's own writes,
        even after it went dead, so it is written only where there is no record yet.
        """
        batch = Batch(self.client)
        for start in range(0, len(messages), _RECORDS_PER_CALL):
            keys: list[str] = [self.index_prefix]
            records = []
            for message in messages[start : start + _RECORDS_PER_CALL]:
                created, fields, indexes = self._describe(message)
                keys.append(self.record_key(message.message_id))
                # created as text: a Lua number would be formatted again for each index
                records.append([message.message_id, repr(created), fields, indexes])
            args = [time.time(), self.retention_s, json.dumps(records)]
            batch.script(_QUEUED_MANY, keys, args)
        batch.execute()

    # --- reading: emails still unrecorded are recorded first, so every read finds them ----

    def get_many(self, message_ids: Sequence[str]) -> list[Delivery | None]:
        record_all(self)
        return super().get_many(message_ids)

    def search_page(self, criteria: Criteria, **page: Any) -> DeliveryPage:
        record_all(self)
        return super().search_page(criteria, **page)

    def _event(
        self,
        message_id: str,
        status: str,
        created: float | None,
        fields: dict[str, str],
        indexes: Sequence[str] = (),
        **details: Any,
    ) -> None:
        """One event, in one round trip; ``details`` as ``_add_event`` takes them."""
        batch = Batch(self.client)
        self._add_event(batch, message_id, status, created, fields, indexes, **details)
        batch.execute()

    def _add_event(
        self,
        batch: Batch,
        message_id: str,
        status: str,
        created: float | None,
        fields: dict[str, str],
        indexes: Sequence[str] = (),
        *,
        attempt: Attempt | None = None,
        counts: dict[tuple[str, str | None, str], int] | None = None,
        latency_s: float | None = None,
        throttled: bool = False,
        only_if: str = _ALWAYS,
    ) -> None:
        now = time.time()
        record = self.record_key(message_id)
        keys = [record, self.index_prefix]
        args = [
            message_id,
            status,
            now,
            created or now,
            self.retention_s,
            json.dumps(fields),
            json.dumps(list(indexes)),
            int(throttled),
            only_if,
        ]
        batch.script(_SET_STATUS, keys, args)
        writes = batch.writes
        if attempt is not None:
            writes.rpush(record + ":attempts", json.dumps(attempt_json(attempt)))
            writes.expire(record + ":attempts", self.retention_s)
        for (event, backend, template), n in (counts or {}).items():
            self._count(writes, now, event, backend or "", template, n)
        if latency_s is not None:
            self._observe(writes, latency_s)
