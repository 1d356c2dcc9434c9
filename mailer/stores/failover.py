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
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

import redis

from mailer.settings import Settings
from mailer.stores import keys as store

logger = logging.getLogger(__name__)

#: How long a probe keeps the primary to itself: longer than any send takes, short enough that
#: a worker that died mid-probe holds up the next probe only briefly.
PROBE_LEASE_S = 30.0

_MAX_ERROR_CHARS = 500

# Redis milliseconds, and the state it opens in. Shared by every script below.
_NOW_AND_STATE = """
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local open_until_ms = tonumber(redis.call('HGET', KEYS[1], 'open_until_ms') or '0')
"""

# KEYS: state, probe lease. ARGV: lease ms, lease token.
# Returns 0: the primary, 1: the fallback, 2: the primary, as this caller's probe.
_CHOOSE = (
    _NOW_AND_STATE
    + """
if open_until_ms == 0 then return 0 end
if now_ms < open_until_ms then return 1 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[1]) then return 2 end
return 1
"""
)

# KEYS: state, probe lease. ARGV: failures to open after, cool-down ms, error text.
# Returns {event, consecutive failures}; event is one of counted, opened, reopened, ignored.
_FAILED = (
    _NOW_AND_STATE
    + """
local reopen_at = string.format('%d', now_ms + tonumber(ARGV[2]))
if open_until_ms > 0 then
    local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
    if now_ms < open_until_ms then return {'ignored', failures} end
    redis.call('HSET', KEYS[1], 'open_until_ms', reopen_at, 'last_error', ARGV[3])
    redis.call('DEL', KEYS[2])
    return {'reopened', failures}
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[3])
if failures < tonumber(ARGV[1]) then return {'counted', failures} end
redis.call('HSET', KEYS[1], 'open_until_ms', reopen_at)
return {'opened', failures}
"""
)

# KEYS: state, probe lease. Returns 1 if this success closed an open circuit, else 0.
_SUCCEEDED = """
local state = redis.call('HMGET', KEYS[1], 'failures', 'open_until_ms')
if not state[1] and not state[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
if state[2] then return 1 end
return 0
"""

# KEYS: state. Returns {now ms, failures, open until ms, last error}.
_STATUS = (
    _NOW_AND_STATE
    + """
local failures = redis.call('HGET', KEYS[1], 'failures') or '0'
local last_error = redis.call('HGET', KEYS[1], 'last_error') or ''
return {string.format('%d', now_ms), failures, string.format('%d', open_until_ms), last_error}
"""
)


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
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.after = after
        self.cooldown_s = cooldown_s
        self._cooldown_ms = max(1, int(cooldown_s * 1000))
        self._lease_ms = max(1, int(probe_lease_s * 1000))
        self._keys = [store.key("failover", primary), store.key("failover", primary, "probe")]
        self._choose = client.register_script(_CHOOSE)
        self._failed = client.register_script(_FAILED)
        self._succeeded = client.register_script(_SUCCEEDED)
        self._status = client.register_script(_STATUS)

    def choose(self) -> str:
        """The backend to send through now: one Redis call with a fallback, none without."""
        if self.fallback is None:
            return self.primary
        verdict = int(self._choose(keys=self._keys, args=[self._lease_ms, uuid.uuid4().hex]))
        if verdict == 1:
            return self.fallback
        if verdict == 2:
            logger.info("Probing %s: the cool-down is over.", self.primary)
        return self.primary

    def succeeded(self, backend: str) -> None:
        """``backend`` delivered: if it is the primary, its failure count starts over."""
        if self.fallback is None or backend != self.primary:
            return
        if int(self._succeeded(keys=self._keys)):
            logger.info(
                "Sending through %s again: it delivered, so the circuit is closed.", self.primary
            )

    def failed(self, backend: str, error: str = "") -> None:
        """One transient failure of ``backend``; only the primary's failures count."""
        if self.fallback is None or backend != self.primary:
            return
        error = error[:_MAX_ERROR_CHARS]
        args = [self.after, self._cooldown_ms, error]
        event, failures = self._failed(keys=self._keys, args=args)
        self._log(bytes(event).decode(), int(failures), error)

    def status(self) -> FailoverStatus:
        """The shared state, read in one call; without a fallback there is no circuit."""
        if self.fallback is None:
            return FailoverStatus(self.primary, None, "closed", 0, None, self.primary)
        raw = self._status(keys=self._keys[:1])
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


_instances: dict[tuple[str, str, str | None, int, float], Failover] = {}
_lock = threading.Lock()


def for_settings(settings: Settings) -> Failover:
    """The process's ``Failover`` for these settings, on the configured Redis."""
    key = (
        settings.redis_url,
        settings.backend,
        settings.fallback_backend,
        settings.failover_after,
        settings.failover_cooldown_s,
    )
    with _lock:
        if key not in _instances:
            _instances[key] = Failover(
                store.client(settings.redis_url),
                settings.backend,
                settings.fallback_backend,
                after=settings.failover_after,
                cooldown_s=settings.failover_cooldown_s,
            )
        return _instances[key]
