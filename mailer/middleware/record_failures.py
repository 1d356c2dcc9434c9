"""Record every failed attempt of an email actor, for the daily digest
(``mailer.stores.failure_log``).

Each record says whether the email is lost for good. Dramatiq's ``Retries`` decides that in its
own ``after_process_message``, and ``after_*`` hooks run in reverse order of the middleware
list, so whether this middleware's hook would see the verdict would hang on where it sits.
Instead it notes the failure there and writes it once the worker acks the message (retried,
or put back) or nacks it (dead-lettered): both happen on the same worker thread right after
every hook has run, wherever this middleware is placed.

Recording is bookkeeping: if Redis refuses it, that is logged and the worker carries on, since
a send must never fail because its failure could not be noted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from mailer import settings as mailer_settings
from mailer.errors import MailerError
from mailer.middleware.send_once import sends_email
from mailer.stores import failure_log as failures
from mailer.stores.failure_log import FailureLog

logger = logging.getLogger(__name__)


class RecordFailures(Middleware):
    """Reads the ``sends_email`` actor option, which ``SendOnce`` declares."""

    def __init__(self, log: FailureLog | None = None) -> None:
        """``log`` defaults to the configured Redis's, looked up at each failure."""
        self.log = log
        self._local = threading.local()  # the failure this worker thread is about to settle

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        self._local.pending = None
        if exception is not None and sends_email(broker, message):
            self._local.pending = (message.message_id, describe(exception))

    def after_ack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._settle(message, final=False)

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._settle(message, final=True)

    def _settle(self, message: MessageProxy, *, final: bool) -> None:
        pending = getattr(self._local, "pending", None)
        self._local.pending = None
        if pending is None or pending[0] != message.message_id:
            return
        try:
            self._record(message, pending[1], final=final)
        except Exception as err:  # recording must never break sending
            logger.warning(
                "Could not record the failure of message %s: %s: %s",
                message.message_id,
                type(err).__name__,
                err,
            )

    def _record(self, message: MessageProxy, error: str, *, final: bool) -> None:
        log = self.log or failures.for_settings(mailer_settings.current())
        log.record(
            message_id=message.message_id,
            template=message.actor_name.removeprefix("send_"),
            to=_recipients(message),
            error=error,
            final=final,
            retries=int(message.options.get("retries", 0)),
        )


def _recipients(message: MessageProxy) -> list[str]:
    """The envelope's ``To``: what an administrator recognises the email by."""
    envelope: Any = message.args[0] if message.args else {}
    to = envelope.get("to", []) if isinstance(envelope, dict) else []
    return [str(address) for address in to]


def describe(exception: BaseException) -> str:
    """Mailer's errors read well alone and carry no credential; others get their type."""
    if isinstance(exception, MailerError):
        return str(exception)
    return f"{type(exception).__name__}: {exception}"
