"""The second round trip of a send: everything its outcome changes, in one batch.

Sent: the receipt (which also lets the claim go), the rate-limit slot's release, the delivery
log's ``sent`` with its counters, the failover circuit's success, and, on a broker that can,
the message's ack (``mailer.stores.queue_acks``); the thread sends it and reads the answer
later (``mailer.worker.settler``). Failed: the claim and slot released, the log's
``retrying`` or ``dead``, the failure log, the circuit's count, and the bounced addresses
suppressed. Either way the log keeps the email's masked content. An ``UnknownOutcome`` is
logged as an ``unknown`` attempt, keeps the message to its backend and leaves the circuit
alone. Each store adds its part to the one ``Batch``.

An outcome that cannot be written because Redis is down is written once Redis is back. A sent
email whose receipt was never written would be sent again by the next copy of its message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import dramatiq
import redis

from mailer.errors import (
    MailerError,
    PermanentSendError,
    SendError,
    TransientSendError,
    UnknownOutcome,
)
from mailer.message import recipients_of
from mailer.stores import Stores
from mailer.stores.delivery_log import Attempt
from mailer.stores.failure_log import Failure
from mailer.stores.rate_limiter import ALL, Decision
from mailer.stores.receipts import Receipt
from mailer.stores.scripts import Batch
from mailer.stores.send_gate import Gate
from mailer.worker import state
from mailer.worker.retry_policy import is_final, retries_after
from mailer.worker.settler import Settler, until_redis_takes

if TYPE_CHECKING:
    from mailer.worker.job import Job

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Settle:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.settler = Settler()

    def buckets(self, gate: Gate) -> tuple[str, ...]:
        return (ALL, gate.backend)

    def wait_reason(self, gate: Gate) -> str:
        decision = Decision(gate.wait_ms, gate.bucket, gate.paused)
        return self.stores.rate_limiter.reason(decision)

    def sent(self, job: Job, gate: Gate, provider_id: str) -> Receipt:
        """Sent at once and its answer read later, where the message's ack goes with it
        (``mailer.worker.settler``); else written here, before returning."""
        ack_into = getattr(dramatiq.get_broker(), "ack_into", None)

        def write(batch: Batch) -> tuple[Receipt, bool]:
            receipt = self.stores.receipts.record_into(
                batch, job.message.message_id, gate.backend, provider_id, release=gate.token
            )
            self._release_slot(batch, gate)
            attempt = Attempt(
                time.time(),
                "sent",
                gate.backend,
                provider_id,
                duration_s=_duration_s(),
                template_sha=job.template_sha,
            )
            self._log(batch, job, "sent", attempt, described=gate.verdict == "go")
            self._keep_content(batch, job)
            self.stores.failover.succeeded_into(batch, gate.backend)
            self.stores.failover.delivered_into(batch, job.message.message_id)
            # A broker that acks in a batch of ours (mailer.broker) skips its own ack.
            acked = ack_into is not None and bool(ack_into(batch, job.message))
            return receipt, acked

        batch = Batch(self.stores.client)
        receipt, acked = write(batch)
        if acked and batch.composable():
            self.settler.submit(batch, job.message.message_id)
            return receipt
        return self._write(job, write)[0]  # made again: a broker of its own acks (tests')

    def failed(self, job: Job, gate: Gate, error: MailerError) -> None:
        # The one line about it is the retry middleware's, which knows when the next try is.
        final = is_final(job.message, job.actor_options, error)

        def write(batch: Batch) -> None:
            self._release(batch, job, gate)
            text = str(error)
            outcome = "unknown" if isinstance(error, UnknownOutcome) else "failed"
            attempt = Attempt(
                time.time(),
                outcome,
                gate.backend,
                error=text,
                duration_s=_duration_s(),
                template_sha=job.template_sha,
            )
            status = "dead" if final else "retrying"
            self._log(batch, job, status, attempt, described=gate.verdict == "go")
            self._keep_content(batch, job)
            retries = retries_after(job.message, job.actor_options, error)
            failure = Failure(
                job.message.message_id,
                job.template,
                recipients_of(job.message),
                text,
                final,
                retries,
                time.time(),
            )
            self.stores.failure_log.add_into(batch, failure)
            self._report(batch, job, gate, error)

        self._write(job, write)

    def suppressed(self, job: Job, gate: Gate) -> None:
        """Every recipient is on the list: logged ``suppressed``, never sent nor retried."""
        note = f"suppressed: {', '.join(sorted(gate.suppressed))}"
        logger.info(
            "Skipped %s message %s: every recipient is suppressed.",
            job.template,
            job.message.message_id,
        )

        def write(batch: Batch) -> None:
            self.stores.receipts.release_into(batch, job.message.message_id, gate.token)
            attempt = Attempt(time.time(), "suppressed", error=note)
            self._log(batch, job, "suppressed", attempt, described=False)

        self._write(job, write)

    def deferred(self, job: Job, gate: Gate, delay_ms: int) -> None:
        """The message is put back to wait: its claim and slot go, the log says ``queued``."""

        def write(batch: Batch) -> None:
            self._release(batch, job, gate)
            self.stores.delivery_log.throttled_into(batch, job.message, delay_ms, gate.backend)

        self._write(job, write)

    def abandoned(self, job: Job, gate: Gate) -> None:
        """An unexpected error ends the try: its claim and slot go if Redis takes them, so the
        retry Dramatiq schedules is not held off until the claim expires."""
        batch = Batch(self.stores.client)
        self._release(batch, job, gate)
        try:
            batch.execute()
        except redis.RedisError as err:
            logger.warning(
                "Could not release message %s: %s: %s",
                job.message.message_id,
                type(err).__name__,
                err,
            )

    def _release(self, batch: Batch, job: Job, gate: Gate) -> None:
        message_id = job.message.message_id
        self.stores.receipts.release_into(batch, message_id, gate.token)
        self._release_slot(batch, gate)
        self.stores.failover.try_over_into(batch, message_id, gate.backend, gate.token)

    def _release_slot(self, batch: Batch, gate: Gate) -> None:
        self.stores.rate_limiter.release_into(batch, self.buckets(gate), gate.token)

    def _log(
        self, batch: Batch, job: Job, status: str, attempt: Attempt, *, described: bool
    ) -> None:
        """``described``: the gate wrote ``sending`` with the message's description."""
        self.stores.delivery_log.settled_into(
            batch,
            job.message.message_id,
            job.template,
            status,
            attempt,
            describe=None if described else job.message,
        )

    def _keep_content(self, batch: Batch, job: Job) -> None:
        """What was tried, masked, for ``mailer log``, ``mailer dlq show`` and the dashboard
        to show again (``mailer.stores.delivery_records``); the attempt keeps the template's
        fingerprint."""
        log = self.stores.delivery_log
        log.content_into(batch, job.message.message_id, job.email, job.context, job.sensitive)

    def _report(self, batch: Batch, job: Job, gate: Gate, error: MailerError) -> None:
        """Tell the circuit, and suppress what the provider refused for good.

        Transient failures count against the backend; a permanent refusal proves it is up and
        answering, as a success does. An unknown outcome counts for neither, and keeps the
        message to its backend. Transactional mail still tries a suppressed address: a typo
        fixed on the account clears it with ``mailer suppress remove``.
        """
        if isinstance(error, UnknownOutcome):
            self.stores.failover.keep_into(batch, job.message.message_id, gate.backend)
        elif isinstance(error, TransientSendError):
            self.stores.failover.failed_into(batch, gate.backend, str(error))
        elif isinstance(error, PermanentSendError):
            self.stores.failover.succeeded_into(batch, gate.backend)
        if isinstance(error, SendError) and error.bounced:
            self.stores.suppression.add_into(batch, error.bounced, "bounced")
            logger.info(
                "Suppressed %d address(es) the provider refused for good.", len(error.bounced)
            )

    def _write(self, job: Job, write: Callable[[Batch], T]) -> T:
        """Run ``write``'s batch, trying again while Redis is unreachable, until the send is
        handed back at a shutdown deadline (a batch is made again for each try)."""
        send = state.current()

        def attempt() -> T:
            batch = Batch(self.stores.client)
            result = write(batch)
            batch.execute()
            return result

        def handed_back() -> bool:
            return send is None or send.handed_back

        return until_redis_takes(attempt, job.message.message_id, handed_back)


def _duration_s() -> float | None:
    send = state.current()
    return None if send is None else time.monotonic() - send.started_s
