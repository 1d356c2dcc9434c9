"""What a worker does with one email message, as named steps.

``Sender.send`` reads top to bottom as the email's path, in the manner of anymail's
``AnymailBaseBackend._send``: pass the gate (claim the message, drop suppressed recipients,
choose the backend, take a rate-limit slot, in one Redis round trip), render, wait for the
slot if the limit said so, call the provider, settle (receipt, releases, the log's outcome
and the counters, in a second round trip, whose answer for a sent email the thread reads
before its next provider call: ``mailer.worker.settler``). Every step runs in the actor's
own call, so a failure of any of them reaches Dramatiq: none is a middleware hook whose
exception Dramatiq would log and ignore.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable

import redis
from dramatiq.middleware import SkipMessage

from mailer import stores, templates
from mailer.errors import MailerError, Throttled
from mailer.settings import Settings
from mailer.stores import Stores
from mailer.stores.receipts import Receipt, new_token
from mailer.stores.scripts import preload
from mailer.stores.send_gate import Gate, Recipients, SendGate
from mailer.stores.suppression import normalise
from mailer.templates import Templates
from mailer.templates.rendering import derive_text
from mailer.worker import state
from mailer.worker.deferral import Deferred
from mailer.worker.job import Job, rendered_now
from mailer.worker.settle import Settle
from mailer.worker.thread_backends import thread_backend
from mailer.worker.unsubscribe_links import add_unsubscribe_link

logger = logging.getLogger(__name__)

#: A wait this short is slept off in the worker thread: a turn is at most about a window
#: away unless a line has formed, and a put-back costs two enqueues and two fetches.
SLEEP_UP_TO_MS = 1000
MAX_SLEEPS = 10
#: A put-back message is asked back this much before its turn: the delay queue's consumer
#: wakes at its time, and the copy still has to be enqueued, fetched and handed to a thread;
#: if it is early, it sleeps the rest off in the thread.
RETURN_EARLY_MS = 100
#: How soon a message whose claim another worker holds is looked at again: usually the holder
#: is its own earlier delivery, which put it back a moment ago and is letting the claim go.
CLAIM_RECHECK_MS = 1_000
#: How soon a message comes back when Redis could not be reached to begin its send.
REDIS_RECHECK_MS = 1_000
#: The message option that carries a claim's token to the copy of a message put back because
#: Redis did not answer: the claim may have been taken all the same.
CLAIM_OPTION = "claim_token"
#: How long a provider's "slow down" pauses its backend when it gives no Retry-After.
DEFAULT_PAUSE_S = 1.0


class Sender:
    """Sends email messages with one process's settings, stores and templates."""

    def __init__(self, settings: Settings, stores: Stores, templates: Templates) -> None:
        self.settings = settings
        self.stores = stores
        self.templates = templates
        self.gate = SendGate(
            stores.receipts,
            stores.suppression,
            stores.failover,
            stores.rate_limiter,
            stores.delivery_log,
        )
        self.settle = Settle(stores)
        with contextlib.suppress(redis.RedisError):  # down now: each script loads on first use
            preload(stores.client)

    def send(self, job: Job) -> Receipt:
        """Send ``job``'s email once, or raise what Dramatiq should do with its message."""
        send = state.start(job.message.message_id, job.template)
        try:
            gate, rendering = self._pass_gate(job)
            send.claim, send.backend = gate.token, gate.backend
            self._drop_suppressed(job, gate)
            try:
                rendering()
                self._wait_for_slot(job, gate)
                provider_id = self._call_provider(send, job, gate.backend)
            except Throttled as err:
                raise self._deferred_by_provider(job, gate, err) from err
            except MailerError as err:
                self.settle.failed(job, gate, err)
                raise
            except (Deferred, SkipMessage):
                raise  # put back, its claim let go; or handed back at a shutdown deadline
            except Exception:
                self.settle.abandoned(job, gate)  # a bug's retry need not wait out the claim
                raise
            return self._sent(job, gate, provider_id)
        finally:
            state.finish()

    def _pass_gate(self, job: Job) -> tuple[Gate, Callable[[], None]]:
        """Claim, suppression, backend and rate slot, in one round trip; and the render, or
        what is left of it (a function to call once the email may go on).

        No answer of the gate changes a transactional email's render (no recipient is
        checked against the suppression list, no unsubscribe link is added), so it renders
        while Redis answers: the call goes out first, and its answer, arrived by then, is
        read after. Any other email waits for the answer before it renders."""
        queued = job.message.options.get("deferrals", 0) > 0
        # A try whose answer Redis never sent may hold the claim: its copy takes it back.
        token = job.message.options.get(CLAIM_OPTION) or new_token()
        rendering: Callable[[], None] = functools.partial(self._render, job)
        try:
            if not job.transactional:
                gate = self.gate.begin(
                    job.message, self._recipients(job), queued=queued, token=token
                )
            else:
                send_ahead = functools.partial(self.settle.settler.call_ahead, self.stores.client)
                answer = self.gate.begin_ahead(
                    job.message, Recipients(), queued=queued, token=token, send=send_ahead
                )
                rendering = rendered_now(rendering)
                gate = answer()
        except (redis.ConnectionError, redis.TimeoutError) as err:
            reason = f"Redis is unreachable ({type(err).__name__})"
            raise Deferred(REDIS_RECHECK_MS, reason, **{CLAIM_OPTION: token}) from err
        job.message.options.pop(CLAIM_OPTION, None)  # used: no later copy inherits it
        return self._let_through(job, gate), rendering

    def _let_through(self, job: Job, gate: Gate) -> Gate:
        """The gate's verdict: the gate itself if the email may go on, else what to raise."""
        if gate.verdict == "sent":
            receipt = gate.receipt
            assert receipt is not None
            logger.info(
                "Skipped message %s: already sent via %s (provider id %s).",
                job.message.message_id,
                receipt.backend,
                receipt.provider_id,
            )
            raise SkipMessage("already sent")
        if gate.verdict == "busy":
            raise Deferred(min(gate.wait_ms, CLAIM_RECHECK_MS), "another worker is sending it")
        if gate.verdict == "suppressed":
            self.settle.suppressed(job, gate)
            raise SkipMessage("every recipient is suppressed")
        return gate

    def _recipients(self, job: Job) -> Recipients:
        if job.transactional:
            return Recipients()
        return Recipients(tuple(job.email.to), (*job.email.cc, *job.email.bcc))

    def _drop_suppressed(self, job: Job, gate: Gate) -> None:
        """Cc and bcc on the list go; news gets its unsubscribe link."""
        email = job.email
        if gate.suppressed:
            email.to, email.cc, email.bcc = (
                [a for a in field if normalise(a) not in gate.suppressed]
                for field in (email.to, email.cc, email.bcc)
            )
        if not job.transactional:
            job.context = add_unsubscribe_link(self.settings, email, job.context)

    def _render(self, job: Job) -> None:
        if job.prerendered:  # sent as the app wrote it; text from the HTML if it gave none
            job.email.text = job.email.text or derive_text(job.email.html or "")
            return
        rendered = self.templates.render(job.template, job.context)
        job.template_sha = self.templates.fingerprint(job.template)
        job.email.subject, job.email.html, job.email.text = (
            rendered.subject,
            rendered.html,
            rendered.text,
        )

    def _wait_for_slot(self, job: Job, gate: Gate) -> None:
        """Sleep off a short wait the limit asked for; put the message back for a long one.

        The wait counts from the gate's answer (from its call, for a render run meanwhile):
        a slot that freed while the email rendered is taken at once, not a render's time
        later."""
        decision_ms, reason = gate.wait_ms, self.settle.wait_reason(gate)
        lane, buckets = job.message.queue_name, self.settle.buckets(gate)
        decided_at_s = gate.answered_at_s
        for _ in range(MAX_SLEEPS):
            if not 0 < decision_ms <= SLEEP_UP_TO_MS:
                break
            time.sleep(max(0.0, decided_at_s + decision_ms / 1000 - time.monotonic()))
            # Its turn was taken with the first refusal: asking again takes no second ticket.
            decision = self.stores.rate_limiter.decide(buckets, gate.token, lane=lane, queued=True)
            decided_at_s = time.monotonic()
            decision_ms, reason = decision.wait_ms, self.stores.rate_limiter.reason(decision)
        if decision_ms:
            delay_ms = max(1, decision_ms - RETURN_EARLY_MS)
            self.settle.deferred(job, gate, delay_ms)
            raise Deferred(delay_ms, reason)

    def _call_provider(self, send: state.Send, job: Job, backend_name: str) -> str:
        job.email.from_email = job.email.from_email or self.settings.from_email
        backend = thread_backend(self.settings, backend_name)
        self.settle.settler.finish_previous()  # the last sent email's receipt is known written
        with state.provider_call(send):  # a worker shutting down hands the message back here
            return backend.send(job.email)

    def _deferred_by_provider(self, job: Job, gate: Gate, error: Throttled) -> Deferred:
        """Pause the backend for every worker as the provider asked, and wait that long.

        Without a ``Retry-After`` the pause is ``DEFAULT_PAUSE_S``: long enough for a
        per-second limit to refill, short enough not to hold mail back for nothing.
        """
        pause_ms = round(1000 * (error.retry_after_s or DEFAULT_PAUSE_S))
        self.stores.rate_limiter.pause(gate.backend, pause_ms)
        logger.warning("Paused %s for %d ms: the provider said %s.", gate.backend, pause_ms, error)
        self.settle.deferred(job, gate, pause_ms)
        return Deferred(pause_ms, f"{gate.backend} paused by the provider")

    def _sent(self, job: Job, gate: Gate, provider_id: str) -> Receipt:
        receipt = self.settle.sent(job, gate, provider_id)
        # The delivery log keeps every send; a line for each too, at hundreds a second, cost
        # a worker more CPU than its SMTP transaction. ``--verbose`` shows them.
        logger.debug(
            "Sent %s message %s to %d recipient(s) via %s (provider id %s).",
            job.template,
            job.message.message_id,
            len(job.email.recipients),
            gate.backend,
            provider_id,
        )
        return receipt


@functools.lru_cache(maxsize=4)
def sender_for(settings: Settings) -> Sender:
    """The sender for a process's settings: built once, rebuilt if a test swaps them."""
    return Sender(settings, stores.for_settings(settings), templates.for_settings(settings))
