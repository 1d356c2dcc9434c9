"""Holds each email send to the limits kept in Redis (``mailer.stores.rate_limiter``); a send
that must wait is put back, not retried."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq import Middleware

from mailer import settings as mailer_settings
from mailer.errors import Throttled
from mailer.middleware.deferral import Deferred
from mailer.settings import Settings
from mailer.stores import keys as store
from mailer.stores.rate_limiter import (
    ALL,
    DEFAULT_PAUSE_S,
    MAX_SLEEPS,
    RETURN_EARLY_MS,
    SLEEP_UP_TO_MS,
    Decision,
    RateLimiter,
    limits_for,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Permit:
    """A granted send: released through the limiter that granted it, whatever settings follow."""

    limiter: RateLimiter
    backend: str
    buckets: tuple[str, ...]
    token: str


_local = threading.local()
_built: tuple[Settings, RateLimiter] | None = None
_build_lock = threading.Lock()


def limiter() -> RateLimiter:
    """This process's limiter for the current settings, rebuilt when they are replaced."""
    global _built
    settings = mailer_settings.current()
    with _build_lock:
        if _built is None or _built[0] is not settings:
            client = store.client(settings.redis_url)
            _built = (settings, RateLimiter(client, limits_for(settings)))
        return _built[1]


class RateLimit(Middleware):
    """Holds each email send to the limits; a send that must wait is put back, not retried.

    The slot is taken by the send itself (``acquire``), after rendering and right before the
    provider call, for the backend the failover circuit chose: a slot held while a template
    renders would count time the provider never sees and leave part of the limit unused.
    This middleware lets the slot go once the message is done with, however it ended.
    """

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        limits = limits_for(mailer_settings.current())
        shown = ", ".join(f"{bucket}={limit}/s" for bucket, limit in limits.items())
        logger.info("Rate limits: %s.", shown or "none")

    def before_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any]
    ) -> None:
        _release_permit()  # a permit a previous message left behind, should one ever be

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message[Any],
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        _release_permit()

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message[Any]) -> None:
        _release_permit()

    @staticmethod
    def acquire(message: dramatiq.Message[Any], backend: str) -> None:
        """Take a slot for sending ``message`` through ``backend`` now, or raise ``Deferred``.

        Short waits are slept off here; a longer one puts the message back for that long.
        """
        _release_permit()
        buckets, token = (ALL, backend), uuid.uuid4().hex
        granting = limiter()
        queued = message.options.get("deferrals", 0) > 0
        decision = _acquire_or_sleep(granting, buckets, token, message.queue_name, queued)
        if decision.wait_ms:
            raise Deferred(decision.wait_ms - RETURN_EARLY_MS, granting.reason(decision))
        _local.permit = Permit(granting, backend, buckets, token)

    @staticmethod
    def current_backend() -> str | None:
        """The backend this thread's permit was granted for; None outside a permitted send."""
        permit: Permit | None = getattr(_local, "permit", None)
        return permit.backend if permit is not None else None

    @staticmethod
    def throttled(error: Throttled) -> Deferred:
        """Pause the backend for every worker as the provider asked; the actor raises the result.

        Without a ``Retry-After`` the pause is ``DEFAULT_PAUSE_S``: long enough for a
        per-second limit to refill, short enough not to hold mail back for nothing.
        """
        backend = RateLimit.current_backend() or error.backend
        pause_ms = round(1000 * (error.retry_after_s or DEFAULT_PAUSE_S))
        limiter().pause(backend, pause_ms)
        logger.warning("Paused %s for %d ms: the provider said %s.", backend, pause_ms, error)
        return Deferred(pause_ms, f"{backend} paused by the provider")


def _acquire_or_sleep(
    limiter: RateLimiter, buckets: Sequence[str], token: str, lane: str, queued: bool
) -> Decision:
    """A decision, having slept off a few short waits here rather than putting the message back."""
    decision = limiter.decide(buckets, token, lane=lane, queued=queued)
    for _ in range(MAX_SLEEPS):
        if not 0 < decision.wait_ms <= SLEEP_UP_TO_MS:
            break
        time.sleep(decision.wait_ms / 1000)
        # Its turn was taken with the first refusal: asking again takes no second ticket.
        decision = limiter.decide(buckets, token, lane=lane, queued=True)
    return decision


def _release_permit() -> None:
    permit: Permit | None = getattr(_local, "permit", None)
    _local.permit = None
    if permit is not None:
        permit.limiter.release(permit.buckets, permit.token)
