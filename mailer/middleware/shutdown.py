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
  claim (``mailer.worker.state``) would hold any copy off as long. At the deadline, one that
  has not reached its provider call is barred from it, its claim released, and it goes back on
  its queue at once. One whose provider call has begun is given the rest of its send deadline
  (``MAILER_SEND_DEADLINE``, which bounds every provider call) to finish: its outcome, receipt
  or retry is written as usual, so the deadline cuts no send in the provider's hands. The
  process exits right after, ending the threads.

So a stopping worker is gone within 1 s (Dramatiq's loop noticing the signal) + the shutdown
timeout + one send deadline + ``SETTLE_MARGIN_S``: the Procfile's 10 s + the default 10 s + 1 s
+ 1 s leaves 8 s of the platform's 30 before SIGKILL. Only a send unsettled past its own
deadline plus that margin (a Redis slow to take its outcome) is handed back after its provider
call began; it is named in a warning, and its copy is kept to the same backend
(``mailer.stores.failover``).

Sent emails' outcomes whose answers are still unread (``mailer.worker.settler``) are read, and
written again where Redis did not take them, before each worker thread ends and once more
before the process exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from types import FrameType
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.common import iter_queue
from dramatiq.middleware import Middleware

from mailer import settings, stores
from mailer.stores.scripts import Batch
from mailer.worker import settler, state

logger = logging.getLogger(__name__)

#: The dyno-wide SIGTERM and the copy the ``dramatiq`` parent passes on arrive milliseconds
#: apart; a SIGTERM later than this after the first still kills at once, as Dramatiq intends.
REPEAT_SIGTERM_WINDOW_S = 2.0
#: Beyond its send deadline, how long a provider call under way at the shutdown deadline is
#: given to write its outcome and ack its message.
SETTLE_MARGIN_S = 1.0


class HandBackOnShutdown(Middleware):
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._running: dict[int, MessageProxy] = {}  # by worker thread

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        _absorb_repeated_sigterm()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        with self._lock:
            self._running[threading.get_ident()] = message

    def after_ack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._finished(message)

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._finished(message)

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: Any) -> None:
        """A stopping thread's sent emails have their outcomes written before it ends."""
        _write_outcomes(settings.current().send_deadline_s + SETTLE_MARGIN_S)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        waiting = [message for _, message in iter_queue(worker.work_queue)]
        if waiting:
            _requeue(worker, waiting)
            logger.info("Put back %d message(s) fetched but not started.", len(waiting))

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        """The deadline: what has not reached its provider call goes back at once, with no
        claim holding it off; what has is waited for until its own deadline."""
        sends = {send.message_id: send for send in state.hand_back_all()}
        called = {key: send for key, send in sends.items() if send.called_s is not None}
        self._hand_back(worker, sends, lambda message: message.message_id not in called)
        _requeue_prefetched(worker)
        if called:
            deadline_s = settings.current().send_deadline_s + SETTLE_MARGIN_S
            until_s = max(send.called_s or 0.0 for send in called.values()) + deadline_s
            self._wait_for(set(called), until_s)
        self._hand_back(worker, sends, lambda message: True)
        _write_outcomes(SETTLE_MARGIN_S)

    def _wait_for(self, message_ids: set[str], until_s: float) -> None:
        """Until none of ``message_ids`` runs (each acked or nacked), or ``until_s`` passes."""

        def finished() -> bool:
            return not any(m.message_id in message_ids for m in self._running.values())

        with self._lock:
            self._lock.wait_for(finished, max(0.0, until_s - time.monotonic()))

    def _hand_back(
        self,
        worker: dramatiq.Worker,
        sends: dict[str, state.Send],
        picked: Callable[[MessageProxy], bool],
    ) -> None:
        with self._lock:
            running = [m for m in self._running.values() if picked(m)]
            self._running = {k: m for k, m in self._running.items() if not picked(m)}
        handed = [sends[m.message_id] for m in running if m.message_id in sends]
        _release_claims([send for send in handed if send.claim is not None])
        _requeue(worker, running)
        for message in running:
            send = sends.get(message.message_id)
            _warn_handed_back(message, in_provider_call=send is not None and send.called_s)

    def _finished(self, message: MessageProxy) -> None:
        thread = threading.get_ident()
        with self._lock:
            running = self._running.get(thread)
            if running is not None and running.message_id == message.message_id:
                del self._running[thread]
                self._lock.notify_all()


def _write_outcomes(timeout_s: float) -> None:
    """Every sent email's outcome known written before the process exits; one Redis cannot
    take in time leaves its message unacked, for the heartbeat timeout to send again."""
    if not settler.flush_all(timeout_s):
        logger.warning(
            "Could not write every sent email's outcome within %.1f s: their messages go "
            "back after the heartbeat timeout and are sent again.",
            timeout_s,
        )


def _release_claims(sends: list[state.Send]) -> None:
    """So that the copies put back are not held off until the claims expire; a send that never
    reached its provider lets go of its backend too, so its copy may fail over."""
    bundle = stores.for_settings(settings.current())
    for send in sends:
        batch = Batch(bundle.client)
        bundle.receipts.release_into(batch, send.message_id, send.claim or "")
        if send.called_s is None and send.backend:
            bundle.failover.try_over_into(batch, send.message_id, send.backend, send.claim or "")
        try:
            batch.execute()
        except Exception as err:
            logger.warning("Could not release message %s: %s", send.message_id, err)


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


def _warn_handed_back(message: MessageProxy, *, in_provider_call: object) -> None:
    where = (
        "in a provider call past its deadline: if the provider accepts it, it is sent twice, "
        "through the same backend"
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
