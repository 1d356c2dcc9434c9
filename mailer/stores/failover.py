"""Send through the fallback backend while the primary keeps failing: a circuit breaker in Redis.

A provider outage shows as transient errors on every worker at once, so the count of
consecutive transient failures lives in Redis, where each worker on each host adds to it and
a success anywhere resets it. Each step is one Lua script run against Redis's own clock
(``TIME``), so hosts whose clocks disagree still agree on when a cool-down ends, and no two
workers can both see themselves open or close the circuit::

    closed ── after N consecutive transient failures ──▶ open (fallback for cooldown_s)
      ▲                                                      │ cool-down over
      └──── a success of the primary ─── half-open ◀─────────┘
                                         one worker at a time probes the primary, the
                                         others keep to the fallback; a failed probe
                                         opens the circuit for another cool-down

A success of the primary in any state closes the circuit: the provider has just delivered,
which is all a probe could prove. Failures while the circuit is open are ignored: they come
from sends begun before it opened and say nothing new.

A message is kept to the backend a try of it was handed to, for as long as that try may have
delivered it: its mark is set as the try begins (``begin_send.lua``) and lifted when the try
fails before the provider had the message, made lasting when the answer was lost after it
(``UnknownOutcome``), so its retries go through the same backend and never through the other
one. An unknown outcome says nothing about the backend's health: it is not counted.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import redis

from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Batch, Script

logger = logging.getLogger(__name__)

#: How long a message stays kept to the backend an earlier try may have handed it to.
KEPT_TTL_S = 30 * 24 * 3600

#: How long a probe keeps the primary to itself: longer than any send takes, short enough that
#: a worker that died mid-probe holds up the next probe only briefly.
PROBE_LEASE_S = 30.0

_MAX_ERROR_CHARS = 500

_CHOOSE = Script("now.lua", "circuit_choose.lua", "circuit_choose_main.lua")
_FAILED = Script("now.lua", "circuit_failed.lua")
_SUCCEEDED = Script("circuit_succeeded.lua")
_STATUS = Script("now.lua", "circuit_status.lua")
_LIFT = Script("delete_if_equal.lua")


@dataclass(frozen=True)
class FailoverStatus:
    """The circuit as the dashboard and the CLI show it; ``open_until`` is epoch seconds."""

    primary: str
    fallback: str | None
    state: str  # closed, open or half-open
    consecutive_failures: int
    open_until: float | None
    using: str  # where sends go now; while half-open, all but one probe use the fallback
    last_error: str | None = None


class Failover:
    """Which backend to send through, for every worker sharing ``client``'s Redis."""

    def __init__(
        self,
        client: redis.Redis,
        primary: str,
        fallback: str | None,
        *,
        after: int,
        cooldown_s: float,
        probe_lease_s: float = PROBE_LEASE_S,
        kept_ttl_s: float = KEPT_TTL_S,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.after = after
        self.cooldown_s = cooldown_s
        self._cooldown_ms = max(1, int(cooldown_s * 1000))
        self._lease_ms = max(1, int(probe_lease_s * 1000))
        self.client = client
        self.keys = [
            namespaced(prefix, "failover", primary),
            namespaced(prefix, "failover", primary, "probe"),
        ]
        self.probe_lease_ms = self._lease_ms
        self.prefix = prefix
        self._kept_ms = max(1, int(kept_ttl_s * 1000))

    # --- the backend a message is kept to -----------------------------------------------------

    def kept_key(self, message_id: str) -> str:
        return namespaced(self.prefix, "kept", message_id)

    def kept_args(self) -> list[str | int]:
        """``begin_send.lua``'s last arguments: the two names, and how long a mark lasts."""
        return [self.primary, self.fallback or "", self._kept_ms]

    def try_over_into(self, batch: Batch, message_id: str, backend: str, token: str) -> None:
        """The try under ``token`` ended before the provider had the message: lift its mark."""
        if self.fallback is not None:
            batch.script(_LIFT, [self.kept_key(message_id)], [f"{backend} {token}"])

    def keep_into(self, batch: Batch, message_id: str, backend: str) -> None:
        """The provider may have the message: every later try goes through ``backend``."""
        if self.fallback is not None:
            batch.writes.set(self.kept_key(message_id), backend, px=self._kept_ms)

    def delivered_into(self, batch: Batch, message_id: str) -> None:
        """Sent, so its receipt holds later copies back: the mark has nothing left to do."""
        if self.fallback is not None:
            batch.writes.delete(self.kept_key(message_id))

    def choose(self) -> str:
        """The backend to send through now: one Redis call with a fallback, none without."""
        if self.fallback is None:
            return self.primary
        verdict = int(_CHOOSE(self.client, self.keys, [self._lease_ms, uuid.uuid4().hex]))
        return self.chosen(verdict)

    def chosen(self, verdict: int) -> str:
        """The backend a choice names: 0 the primary, 1 the fallback, 2 the primary's probe."""
        if verdict == 1 and self.fallback is not None:
            return self.fallback
        if verdict == 2:
            logger.info("Probing %s: the cool-down is over.", self.primary)
        return self.primary

    def succeeded(self, backend: str) -> None:
        """``backend`` delivered: if it is the primary, its failure count starts over."""
        batch = Batch(self.client)
        self.succeeded_into(batch, backend)
        batch.execute()

    def succeeded_into(self, batch: Batch, backend: str) -> None:
        """``succeeded`` as part of ``batch``."""
        if self.fallback is None or backend != self.primary:
            return
        batch.script(_SUCCEEDED, self.keys, [], then=self._closed)

    def _closed(self, reply: object) -> None:
        if int(reply):  # type: ignore[call-overload]
            logger.info(
                "Sending through %s again: it delivered, so the circuit is closed.", self.primary
            )

    def failed(self, backend: str, error: str = "") -> None:
        """One transient failure of ``backend``; only the primary's failures count."""
        batch = Batch(self.client)
        self.failed_into(batch, backend, error)
        batch.execute()

    def failed_into(self, batch: Batch, backend: str, error: str = "") -> None:
        """``failed`` as part of ``batch``."""
        if self.fallback is None or backend != self.primary:
            return
        error = error[:_MAX_ERROR_CHARS]
        args = [self.after, self._cooldown_ms, error]

        def counted(reply: list[bytes]) -> None:
            self._log(bytes(reply[0]).decode(), int(reply[1]), error)

        batch.script(_FAILED, self.keys, args, then=counted)

    def status(self) -> FailoverStatus:
        """The shared state, read in one call; without a fallback there is no circuit."""
        if self.fallback is None:
            return FailoverStatus(self.primary, None, "closed", 0, None, self.primary)
        raw = _STATUS(self.client, self.keys[:1], [])
        now_ms, failures, open_until_ms = (int(value) for value in raw[:3])
        last_error = bytes(raw[3]).decode() or None
        if open_until_ms == 0:
            state, using = "closed", self.primary
        else:
            state, using = ("open" if now_ms < open_until_ms else "half-open"), self.fallback
        open_until = open_until_ms / 1000 if open_until_ms else None
        return FailoverStatus(
            self.primary, self.fallback, state, failures, open_until, using, last_error
        )

    def _log(self, event: str, failures: int, error: str) -> None:
        reason = f": {error}" if error else ""
        if event == "opened":
            logger.warning(
                "Sending through %s for %g s after %d consecutive transient failures of %s%s",
                self.fallback,
                self.cooldown_s,
                failures,
                self.primary,
                reason,
            )
        elif event == "reopened":
            logger.info(
                "Probe of %s failed; sending through %s for another %g s%s",
                self.primary,
                self.fallback,
                self.cooldown_s,
                reason,
            )
