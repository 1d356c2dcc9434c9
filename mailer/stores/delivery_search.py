"""Reading the delivery log: one message's record, searches, and hourly totals.

Records are written by ``mailer.stores.delivery_log``; each is indexed by recipient, type,
status and time (sorted sets scored by creation time), so "what happened to the email for
ann@example.com?" is one lookup.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import redis

from mailer.addresses import addr_spec
from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Script

#: How long a built result (an address prefix, or two facets) is kept for the pages after
#: the first, in seconds.
RESULT_TTL_S = 60
#: Statuses a record holds for milliseconds, kept out of the facets' status twins by the log's
#: writes (``set_status.lua``'s ``UNTWINNED``): a search for one intersects the facet with
#: the status's own index, which is small for the same reason.
UNTWINNED_STATUSES = frozenset({"sending"})
#: The log's retention unless told otherwise (``MAILER_LOG_RETENTION_DAYS``).
DEFAULT_RETENTION_S = 30 * 24 * 3600
_SEARCH = Script("delivery_search.lua")


@dataclass(frozen=True)
class Attempt:
    at: float
    outcome: str  # "sent", "failed", "throttled", "requeued"
    backend: str | None = None
    provider_id: str | None = None
    error: str | None = None
    duration_s: float | None = None
    #: ``Templates.fingerprint`` of the type's sources when this attempt rendered it.
    template_sha: str | None = None


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
    #: As the worker last tried it (``mailer.stores.delivery_records``): the envelope
    #: (attachments by name, type and size) and the context, its sensitive values masked.
    envelope: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Criteria:
    """What a search asks: every criterion given must match.

    ``address_prefix``: the start of a recipient's bare address, lowercase
    (``user5`` finds ``user5@...`` and ``user50@...``); ``domain``: a recipient's domain;
    ``since``/``until``: creation time bounds, epoch seconds, inclusive.
    """

    address_prefix: str | None = None
    domain: str | None = None
    template: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def matching(cls, to: str | None = None, **rest: Any) -> Criteria:
        """``to`` as an operator types it: ``@example.com`` is a domain, anything else the
        start of an address (``Ann <ann@example.com>`` its bare address, any case)."""
        if to is None or not to.strip():
            return cls(**rest)
        text = addr_spec(to.strip()).lower()
        if text.startswith("@"):
            return cls(**{**rest, "domain": text[1:]})
        return cls(address_prefix=text, **rest)


@dataclass(frozen=True)
class DeliveryPage(Sequence["Delivery"]):
    """``deliveries`` from ``offset`` on, of ``total`` matches in all; iterates as them."""

    total: int
    offset: int
    limit: int
    deliveries: list[Delivery]

    @overload
    def __getitem__(self, index: int) -> Delivery: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Delivery]: ...
    def __getitem__(self, index: int | slice) -> Delivery | Sequence[Delivery]:
        return self.deliveries[index]

    def __len__(self) -> int:
        return len(self.deliveries)


class DeliverySearch:
    def __init__(
        self,
        client: redis.Redis,
        *,
        retention_s: int = DEFAULT_RETENTION_S,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.index_prefix = namespaced(prefix, "log", "index")
        #: Records older than this are not found: an index is trimmed to it only now and
        #: then (``set_status.lua``), so a search reads no further back.
        self.retention_s = retention_s

    def record_key(self, message_id: str) -> str:
        return namespaced(self.prefix, "log", "message", message_id)

    def content_key(self, message_id: str) -> str:
        """Beside the record, so it is found and expires with it."""
        return self.record_key(message_id) + ":content"

    def index_key(self, *parts: str) -> str:
        return namespaced(self.index_prefix, *parts)

    def hourly_key(self, hour: int) -> str:
        return namespaced(self.prefix, "log", "hourly", str(hour))

    def metrics_key(self, name: str) -> str:
        """The counters (``events``) and the send-latency histogram (``latency``)."""
        return namespaced(self.prefix, "metrics", name)

    # --- reading --------------------------------------------------------------------------

    def get(self, message_id: str) -> Delivery | None:
        return self.get_many([message_id])[0]

    def search(self, *, limit: int = 50, **criteria: Any) -> list[Delivery]:
        """The first ``limit`` matches, newest first; ``criteria`` as ``Criteria.matching``
        takes them."""
        return self.search_page(Criteria.matching(**criteria), limit=limit).deliveries

    def search_page(
        self, criteria: Criteria, *, offset: int = 0, limit: int = 50, fresh: bool | None = None
    ) -> DeliveryPage:
        """One page of matches, newest first, and how many match in all.

        A search on one index (every record, a status, a type or a domain, each with or
        without a status) reads that sorted set. An address prefix, with or without a status,
        walks the addresses it matches: they come by address, newest first for each. A prefix
        with a type or domain, or a type and a domain, build the result once, into a key kept
        ``RESULT_TTL_S`` seconds for the pages after it; ``fresh`` (the default for the first
        page) builds it again.
        """
        fresh = offset == 0 if fresh is None else fresh
        oldest = time.time() - self.retention_s
        since = oldest if criteria.since is None else max(criteria.since, oldest)
        until = "+inf" if criteria.until is None else criteria.until
        sources = self._sources(criteria)
        address = criteria.address_prefix or ""
        result = self.index_key("search", _digest(sources, address))
        walk = bool(address) and criteria.template is None and criteria.domain is None
        walk = walk and criteria.status not in UNTWINNED_STATUSES
        args = [json.dumps(sources), address, since, until, offset, limit, RESULT_TTL_S]
        args += [int(fresh), int(walk), criteria.status or ""]
        reply = _SEARCH(self.client, [self.index_prefix, result], args)
        ids = [bytes(i).decode() for i in reply[1:]]
        found = [d for d in self.get_many(ids) if d is not None]
        return DeliveryPage(int(reply[0]), offset, limit, found)

    def _sources(self, criteria: Criteria) -> list[str]:
        """The sorted sets whose intersection is the answer (an address prefix aside)."""
        facets: list[str] = []
        twin: tuple[str, ...] = ()
        if criteria.status in UNTWINNED_STATUSES:
            facets.append(self.index_key("status", criteria.status))
        elif criteria.status is not None:
            twin = ("status", criteria.status)
        if criteria.template is not None:
            facets.append(self.index_key("template", criteria.template, *twin))
            twin = ()
        if criteria.domain is not None:
            facets.append(self.index_key("domain", criteria.domain.lower(), *twin))
            twin = ()
        if twin:
            facets.append(self.index_key(*twin))
        if not facets and criteria.address_prefix is None:
            facets.append(self.index_key("all"))
        return facets

    def get_many(self, message_ids: Sequence[str]) -> list[Delivery | None]:
        """Records in one round trip; None for one that expired since it was found."""
        with self.client.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.hgetall(self.record_key(message_id))
                pipe.lrange(self.record_key(message_id) + ":attempts", 0, -1)
                pipe.get(self.content_key(message_id))
            replies = pipe.execute()
        found = zip(replies[::3], replies[1::3], replies[2::3], strict=True)
        return [
            _delivery(message_id, raw, attempts, content) if raw else None
            for message_id, (raw, attempts, content) in zip(message_ids, found, strict=True)
        ]


def _digest(sources: list[str], address: str) -> str:
    return hashlib.sha1(json.dumps([sources, address]).encode()).hexdigest()[:20]


def _delivery(
    message_id: str, raw: dict[bytes, bytes], attempts: list[bytes], content: bytes | None
) -> Delivery:
    text = {bytes(k).decode(): bytes(v).decode() for k, v in raw.items()}
    kept = json.loads(zlib.decompress(content)) if content else {}
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
        envelope=kept.get("envelope", {}),
        context=kept.get("context", {}),
    )
