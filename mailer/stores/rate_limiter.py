"""One rate limit for every worker on every host, kept in Redis: at most N sends per window.

Each limited bucket (``all``, and one per backend) is a sorted set of slots. A granted send
holds a slot scored ``now + hold_ms`` while in flight, and its release re-scores it to the
moment the provider answered; a slot counts while its score is within the last window. A
provider counts a send from when it arrives until it answers, so counting each send from its
grant until a window after its answer keeps every window the provider sees within the limit,
which a sliding window or token bucket over grant times alone does not when sends take varying
time. The clock is Redis's ``TIME``, the one clock every host agrees on.

A refused message waits (see ``deferral``), and so that a backlog neither comes back all at
the same instant nor later than the slots free, each refusal is promised a turn: the moment
the next slot that no pending turn has claimed leaves the window, kept per set of buckets and
per queue (a lane per priority level, so a critical email never queues behind a newsletter's
turns) in a sorted set of turns until it passes. Turns follow the slots' own departures: a
burst the limit let through frees its slots in a burst, and the line behind it takes them as
they free, where turns spread one slot spacing apart would leave most of them idle for up to
a window and keep a drain under the limit. A slot still in flight has no departure yet, so
turns beyond the answered slots are spread one spacing apart. A message back from waiting its
turn and refused again takes no new turn: it is told when the next slot frees; sent to the
back of the line each time, it would leave slots unused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from mailer.settings import Settings
from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Batch, Script

logger = logging.getLogger(__name__)

ALL = "all"
WINDOW_MS = 1_000  # limits are configured per second
_ACQUIRE = Script("now.lua", "rate_acquire.lua", "rate_acquire_main.lua")
_RELEASE = Script("now.lua", "rate_release.lua")
_PAUSE = Script("now.lua", "rate_pause.lua")


@dataclass(frozen=True)
class Decision:
    """What ``acquire`` answered: granted (``wait_ms == 0``), or why not and for how long."""

    wait_ms: int
    bucket: str | None = None  # the bucket that refused
    paused: bool = False  # refused because the provider asked us to slow down


class RateLimiter:
    """The Redis mechanics of the limit, each decision one atomic Lua call."""

    def __init__(
        self,
        client: redis.Redis,
        limits: Mapping[str, int],
        *,
        window_ms: int = WINDOW_MS,
        hold_ms: int = 60_000,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.limits = dict(limits)
        self.window_ms = window_ms
        # An upper bound on a send, after which the slot of a worker that died is let go.
        self.hold_ms = hold_ms
        self.client = client
        self.prefix = prefix

    def slots_key(self, bucket: str) -> str:
        return namespaced(self.prefix, "rate", "slots", bucket)

    def pause_key(self, bucket: str) -> str:
        return namespaced(self.prefix, "rate", "pause", bucket)

    def ticket_key(self, buckets: Sequence[str], lane: str) -> str:
        """The turns promised to refusals, per set of buckets and per queue: a lane per
        priority level, so a critical email never queues behind a newsletter's turns."""
        return namespaced(self.prefix, "rate", "turns", "+".join(buckets), lane)

    def acquire(
        self, buckets: Sequence[str], token: str, *, lane: str, queued: bool = False
    ) -> int:
        """0 if a slot is now held under ``token`` in every limited bucket, else ms to wait.

        ``queued``: the caller already waited its turn (a message put back before). Refused
        again, it is told the plain wait and takes no new turn, rather than going to the back
        of the line because it came back a little before its slot was free.
        """
        return self.decide(buckets, token, lane=lane, queued=queued).wait_ms

    def decide(
        self, buckets: Sequence[str], token: str, *, lane: str, queued: bool = False
    ) -> Decision:
        """``acquire``, also naming the bucket that refused, for logs and put-back reasons."""
        keys = [self.ticket_key(buckets, lane)]
        for name in buckets:
            keys += [self.slots_key(name), self.pause_key(name)]
        limits = [self.limits.get(bucket, 0) for bucket in buckets]
        args = [token, self.window_ms, self.hold_ms, int(queued), *limits]
        wait_ms, culprit, paused = _ACQUIRE(self.client, keys, args)
        bucket = buckets[int(culprit) - 1] if culprit else None
        return Decision(int(wait_ms), bucket, bool(paused))

    def release(self, buckets: Sequence[str], token: str) -> None:
        """The send answered: its slots count from now until a window later."""
        batch = Batch(self.client)
        self.release_into(batch, buckets, token)
        batch.execute()

    def release_into(self, batch: Batch, buckets: Sequence[str], token: str) -> None:
        """``release`` as part of ``batch``; nothing at all when no bucket is limited."""
        keys = [self.slots_key(bucket) for bucket in buckets if self.limits.get(bucket)]
        if keys:
            batch.script(_RELEASE, keys, [token])

    def pause(self, bucket: str, pause_ms: int) -> None:
        """Nobody sends through ``bucket`` for ``pause_ms``; a longer pause already set stays."""
        _PAUSE(self.client, [self.pause_key(bucket)], [max(1, int(pause_ms))])

    def reason(self, decision: Decision) -> str:
        """Why a message waits, as the put-back log line says it."""
        if decision.paused:
            return f"{decision.bucket} paused by the provider"
        per = "s" if self.window_ms == 1000 else f"{self.window_ms} ms"
        return f"rate limit {decision.bucket}={self.limits.get(decision.bucket or '')}/{per}"


def limits_for(settings: Settings) -> dict[str, int]:
    """``MAILER_RATE_LIMIT`` as the ``all`` bucket beside ``MAILER_RATE_LIMITS``' backends."""
    limits = {ALL: settings.rate_limit} if settings.rate_limit else {}
    return {**limits, **settings.rate_limits}
