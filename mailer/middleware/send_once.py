"""Never send a message id twice: skip what the provider already confirmed, and let one worker
at a time send a message.

Dramatiq delivers at least once. A worker that dies after the provider accepted an email but
before the ack has that message redelivered a minute later; a put-back copy and its original
can both exist if a worker dies between the two steps; a scheduler can enqueue an entry twice.
Every copy carries the same message id, and the receipt the worker writes right after the
provider's answer (``delivery.deliver``) turns every later copy into a no-op here.
"""

from __future__ import annotations

import logging
import threading

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from mailer import settings as mailer_settings
from mailer import store
from mailer.idempotency import Receipts
from mailer.middleware.deferral import Deferred, put_back

logger = logging.getLogger(__name__)

_CLAIM_RECHECK_MS = 1_000


class SendOnce(Middleware):
    """Declares the ``sends_email`` actor option; only such actors are guarded."""

    actor_options = {"sends_email"}

    def __init__(self) -> None:
        self._local = threading.local()

    def before_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message[object]
    ) -> None:
        if not broker.get_actor(message.actor_name).options.get("sends_email"):
            return
        receipts = receipts_for_settings()
        receipt = receipts.get(message.message_id)
        if receipt is not None:
            logger.info(
                "Skipped message %s: already sent via %s (provider id %s).",
                message.message_id,
                receipt.backend,
                receipt.provider_id,
            )
            raise SkipMessage("already sent")
        token, wait_ms = receipts.claim(message.message_id)
        if token is None:
            # Usually the holder is this message's own earlier delivery, which put it back a
            # moment ago and is about to let the claim go: look again soon, not at lease end.
            wait_ms = min(wait_ms, _CLAIM_RECHECK_MS)
            put_back(broker, message, Deferred(wait_ms, "another worker is sending it"))
        self._local.claim = (message.message_id, token)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message[object],
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        self._release()

    def after_skip_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message[object]
    ) -> None:
        self._release()

    def _release(self) -> None:
        claim = getattr(self._local, "claim", None)
        self._local.claim = None
        if claim is not None:
            receipts_for_settings().release(*claim)


def receipts_for_settings(settings: mailer_settings.Settings | None = None) -> Receipts:
    """The receipts of the configured Redis; a claim lasts as long as Dramatiq waits before
    it redelivers a dead worker's messages, so a redelivered message finds it expired."""
    settings = settings or mailer_settings.current()
    return Receipts(
        store.client(settings.redis_url),
        ttl_s=settings.idempotency_ttl_s,
        lease_s=settings.heartbeat_timeout_s,
    )
