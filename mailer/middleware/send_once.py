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
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

from mailer import settings as mailer_settings
from mailer.middleware.deferral import Deferred, put_back
from mailer.stores import keys as store
from mailer.stores.receipts import Receipt, Receipts

logger = logging.getLogger(__name__)

_CLAIM_RECHECK_MS = 1_000

# This worker thread's claim (message id, token) and the receipt it wrote, read by the send
# (``record``), the delivery log and the shutdown hand-back without asking Redis again.
_local = threading.local()


class SendOnce(Middleware):
    """Declares the ``sends_email`` actor option; only such actors are guarded."""

    actor_options = {"sends_email"}

    def before_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message[object]
    ) -> None:
        _local.receipt = None
        if not sends_email(broker, message):
            return
        receipt, token, wait_ms = receipts_for_settings().check_and_claim(message.message_id)
        if receipt is not None:
            logger.info(
                "Skipped message %s: already sent via %s (provider id %s).",
                message.message_id,
                receipt.backend,
                receipt.provider_id,
            )
            raise SkipMessage("already sent")
        if token is None:
            # Usually the holder is this message's own earlier delivery, which put it back a
            # moment ago and is about to let the claim go: look again soon, not at lease end.
            wait_ms = min(wait_ms, _CLAIM_RECHECK_MS)
            put_back(broker, message, Deferred(wait_ms, "another worker is sending it"))
        _local.claim = (message.message_id, token)

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
        claim = getattr(_local, "claim", None)
        _local.claim = None
        if claim is not None:
            receipts_for_settings().release(*claim)

    @staticmethod
    def record(message_id: str, backend: str, provider_id: str) -> Receipt:
        """Write the provider's confirmation for the message this thread is sending, letting
        its claim go in the same round trip."""
        claim = getattr(_local, "claim", None)
        token = claim[1] if claim is not None and claim[0] == message_id else None
        receipt = receipts_for_settings().record(message_id, backend, provider_id, release=token)
        if token is not None:
            _local.claim = None
        _local.receipt = receipt
        return receipt

    @staticmethod
    def claim_of(message_id: str) -> str | None:
        """The token of this thread's claim on ``message_id``, if it holds one."""
        claim = getattr(_local, "claim", None)
        return claim[1] if claim is not None and claim[0] == message_id else None

    @staticmethod
    def recorded(message_id: str) -> Receipt | None:
        """The receipt this thread wrote for ``message_id``, if it wrote one."""
        receipt: Receipt | None = getattr(_local, "receipt", None)
        return receipt if receipt is not None and receipt.message_id == message_id else None


def sends_email(broker: dramatiq.Broker, message: dramatiq.Message[Any] | MessageProxy) -> bool:
    """The ``sends_email`` option as Dramatiq resolves one: the message's own, else its
    actor's; every middleware that treats emails apart asks here."""
    if "sends_email" in message.options:
        return bool(message.options["sends_email"])
    return bool(broker.get_actor(message.actor_name).options.get("sends_email", False))


def receipts_for_settings(settings: mailer_settings.Settings | None = None) -> Receipts:
    """The receipts of the configured Redis; a claim lasts as long as Dramatiq waits before
    it redelivers a dead worker's messages, so a redelivered message finds it expired."""
    settings = settings or mailer_settings.current()
    return Receipts(
        store.client(settings.redis_url),
        ttl_s=settings.idempotency_ttl_s,
        lease_s=settings.heartbeat_timeout_s,
    )
