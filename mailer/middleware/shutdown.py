"""Hand back what a stopping worker holds: nothing lost, nothing left for the heartbeat timeout.

A platform stops a worker with SIGTERM and kills it with SIGKILL 30 s later. Dramatiq lets the
running messages finish for ``--worker-shutdown-timeout``, then puts back the messages it had
fetched but not started. Three gaps remain, and this middleware closes them:

- Heroku signals every process of a dyno, and the ``dramatiq`` parent passes its own SIGTERM on
  to its worker processes, so each of them gets two. Dramatiq reads a second signal as "die
  now" and exits mid-shutdown, leaving everything it holds unacked until the heartbeat timeout
  (60 s) hands it to another worker. A repeat soon after the first is taken as the same request.
- Fetched messages that no thread has started wait in memory until the running ones finish,
  up to the whole timeout. They are put back as soon as the shutdown begins. And the Redis
  consumer's own prefetched batch, not yet handed to the worker, Dramatiq never puts back at
  all: it is put back once the consumers have stopped.
- A message still running at the deadline stays unacked until the heartbeat timeout, and its
  ``SendOnce`` claim would hold any copy off as long. At the deadline its claim is released and
  it goes back on its queue at once; the process exits right after, ending its thread.

The window that remains is a send the provider had been handed but had not answered at the
deadline. If the provider accepts it, no receipt was written, and the copy put back is sent
again: the same duplicate the heartbeat timeout would have caused a minute later, only sooner.
``provider_call()`` marks that step, so the deadline names such messages in a warning, and
keeps a thread that reaches it after the deadline from sending what was just handed back. A
shutdown timeout well above the backends' own timeouts (``SMTP_TIMEOUT`` ...) keeps the window
empty: every send under way when the shutdown begins answers, or times out, before the deadline.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.common import iter_queue
from dramatiq.middleware import CurrentMessage, Middleware, SkipMessage

from mailer.middleware.send_once import SendOnce, receipts_for_settings, sends_email

logger = logging.getLogger(__name__)

#: The dyno-wide SIGTERM and the copy the ``dramatiq`` parent passes on arrive milliseconds
#: apart; a SIGTERM later than this after the first still kills at once, as Dramatiq intends.
REPEAT_SIGTERM_WINDOW_S = 2.0


class _ProviderCalls:
    """This process's threads inside a provider call, and those barred from starting one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calling: set[int] = set()
        self.barred: dict[int, str] = {}  # thread -> the message id handed back from under it


_calls = _ProviderCalls()


@contextlib.contextmanager
def provider_call() -> Iterator[None]:
    """Wrap the one call that hands an email to its provider.

    A thread whose message was handed back at the shutdown deadline does not make the call,
    since another worker is to send it: ``SkipMessage`` ends the delivery without a retry or a
    dead letter.
    """
    thread = threading.get_ident()
    current = CurrentMessage.get_current_message()
    with _calls.lock:
        barred = _calls.barred.get(thread)
        if barred is not None and (current is None or current.message_id == barred):
            raise SkipMessage("handed back at the shutdown deadline")
        _calls.calling.add(thread)
    try:
        yield
    finally:
        with _calls.lock:
            _calls.calling.discard(thread)


@dataclass(frozen=True)
class _Running:
    message: MessageProxy
    claim: str | None  # the token of SendOnce's claim, for an email


class HandBackOnShutdown(Middleware):
    """Reads the ``sends_email`` actor option, which ``SendOnce`` declares, and goes after it:
    a message is tracked once ``SendOnce`` has let it through and claimed it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}  # by worker thread

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        _absorb_repeated_sigterm()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        claim = SendOnce.claim_of(message.message_id) if sends_email(broker, message) else None
        with self._lock:
            self._running[threading.get_ident()] = _Running(message, claim)

    def after_ack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._finished(message)

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._finished(message)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        waiting = [message for _, message in iter_queue(worker.work_queue)]
        if waiting:
            _requeue(worker, waiting)
            logger.info("Put back %d message(s) fetched but not started.", len(waiting))

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        """The deadline: every message still running goes back, with no claim holding it off."""
        with _calls.lock:  # no provider call starts while messages are handed back
            with self._lock:
                running, self._running = self._running, {}
            calling = set(_calls.calling)
            _calls.barred.update({t: entry.message.message_id for t, entry in running.items()})
            _release_claims(running.values())
            _requeue(worker, [entry.message for entry in running.values()])
        _requeue_prefetched(worker)
        for thread, entry in running.items():
            _warn_handed_back(entry.message, in_provider_call=thread in calling)

    def _finished(self, message: MessageProxy) -> None:
        thread = threading.get_ident()
        with self._lock:
            entry = self._running.get(thread)
            if entry is not None and entry.message.message_id == message.message_id:
                del self._running[thread]
        with _calls.lock:
            if _calls.barred.get(thread) == message.message_id:
                del _calls.barred[thread]


def _release_claims(running: Iterable[_Running]) -> None:
    receipts = receipts_for_settings()
    for entry in running:
        if entry.claim is not None:
            try:
                receipts.release(entry.message.message_id, entry.claim)
            except Exception as err:
                logger.warning("Could not release message %s: %s", entry.message.message_id, err)


def _requeue(worker: dramatiq.Worker, messages: list[MessageProxy]) -> None:
    """Back on their queues under the ids they were fetched with, as Dramatiq's own stop does:
    one atomic move each, so a message is never both back and still held."""
    by_queue: dict[str, list[MessageProxy]] = defaultdict(list)
    for message in messages:
        by_queue[message.queue_name].append(message)
    for queue_name, batch in by_queue.items():
        try:
            worker.consumers[queue_name].requeue_messages(batch)
        except Exception as err:
            logger.warning(
                "Could not put back %d message(s) on %s, so they wait for the heartbeat "
                "timeout: %s: %s",
                len(batch),
                queue_name,
                type(err).__name__,
                err,
            )


def _requeue_prefetched(worker: dramatiq.Worker) -> None:
    """The batch each Redis consumer fetched ahead (moved to this worker's unacked set) and
    had not handed out when it stopped: Dramatiq's consumer closes without putting it back."""
    for queue_name, thread in worker.consumers.items():
        consumer = getattr(thread, "consumer", None)
        cached = getattr(consumer, "message_cache", None)
        if not cached or consumer is None:
            continue
        consumer.message_cache = []
        messages = [MessageProxy(dramatiq.Message.decode(data)) for data in cached if data]
        try:
            consumer.requeue(messages)
        except Exception as err:
            logger.warning(
                "Could not put back %d prefetched message(s) on %s: %s: %s",
                len(messages),
                queue_name,
                type(err).__name__,
                err,
            )
            continue
        logger.info("Put back %d message(s) prefetched on %s.", len(messages), queue_name)


def _warn_handed_back(message: MessageProxy, *, in_provider_call: bool) -> None:
    where = (
        "in a provider call: if the provider accepts it, it is sent twice"
        if in_provider_call
        else "before any provider call"
    )
    logger.warning(
        "Put back message %s (%s), still running at the shutdown deadline, %s.",
        message.message_id,
        message.actor_name,
        where,
    )


def _absorb_repeated_sigterm() -> None:
    """In a ``dramatiq`` worker process, take a SIGTERM that follows the first within
    ``REPEAT_SIGTERM_WINDOW_S`` as the same request instead of an order to die mid-shutdown."""
    in_worker_process = multiprocessing.parent_process() is not None
    if not in_worker_process or threading.current_thread() is not threading.main_thread():
        return
    stop = signal.getsignal(signal.SIGTERM)
    if not callable(stop):
        return
    first_s: float | None = None

    def on_sigterm(signum: int, frame: FrameType | None) -> Any:
        nonlocal first_s
        now_s = time.monotonic()
        if first_s is not None and now_s - first_s < REPEAT_SIGTERM_WINDOW_S:
            logger.info("Ignored a repeated SIGTERM: the shutdown under way goes on.")
            return None
        first_s = now_s if first_s is None else first_s
        return stop(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
