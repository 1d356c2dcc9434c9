"""See that each new email gets its ``queued`` record in the delivery log, off the caller's
thread and, on mailer's Redis broker, out of the caller's process.

mailer's broker leaves each new email on the log's unrecorded list in its enqueue script
(``mailer.stores.unrecorded``); a thread in every worker process writes the records of what
arrives there. On any other broker (a test's ``StubBroker``) a thread in the caller's process
writes them. The worker writes everything after that (``sending``, and each attempt's
outcome) in the same round trips as its claim and its receipt (``mailer.worker.send``). A
retry or a put-back copy needs no record of its own (``mailer.message.is_new_email``).

Logging is bookkeeping: if Redis refuses a write, that is logged and sending carries on.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from mailer import settings as mailer_settings
from mailer import stores
from mailer.message import SENDS_EMAIL, is_new_email
from mailer.middleware.unrecorded_recorder import UnrecordedRecorder
from mailer.stores import unrecorded
from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.unrecorded import record_all

logger = logging.getLogger(__name__)


class LogDeliveries(Middleware):
    """Owns the ``sends_email`` actor option that marks an email actor."""

    actor_options = {SENDS_EMAIL}

    def __init__(self) -> None:
        self._recorder: UnrecordedRecorder | None = None

    def after_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None
    ) -> None:
        if _records_on_enqueue(broker):
            return  # the enqueue script left it for the workers' recorder threads
        if is_new_email(broker, message):
            _queued_writer.submit(message)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if _records_on_enqueue(broker):
            log = stores.for_settings(mailer_settings.current()).delivery_log
            self._recorder = UnrecordedRecorder(log)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None


def _records_on_enqueue(broker: dramatiq.Broker) -> bool:
    return unrecorded.key_of(broker) is not None


class _QueuedWriter:
    """Writes ``queued`` records on a thread of its own, so ``send_email`` pays one Redis
    round trip (the enqueue), not two. Should the process exit before a record is written,
    the worker writes the whole record when it takes the message: nothing is lost but the
    few milliseconds between enqueue and pickup.

    The thread sleeps ``_LINGER_S`` after a first record, then writes what came meanwhile in
    one round trip: woken for every record, it would take the GIL from the caller's thread
    once per ``send_email``, in the middle of its next call. A ``flush`` cuts the sleep short.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[dramatiq.Message[Any] | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._pid: int | None = None
        self._hurry = threading.Event()
        atexit.register(self.flush, 2.0)

    def submit(self, message: dramatiq.Message[Any]) -> None:
        with self._idle:
            if self._pid != os.getpid():  # first use, or a forked web worker: no thread yet
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="mailer-log", daemon=True).start()
            self._pending += 1
        self._queue.put(message)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every submitted record is written; False if the time ran out."""
        with self._idle:
            if self._pending:
                self._hurry.set()
                self._queue.put(None)  # ends the thread's wait for more
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def _run(self) -> None:
        while True:
            batch = self._gather()
            if not batch:
                continue
            write = functools.partial(_write_queued, batch)
            _safely(batch[0], write, more=len(batch) - 1)
            with self._idle:
                self._pending -= len(batch)
                if not self._pending:
                    self._hurry.clear()
                self._idle.notify_all()

    def _gather(self) -> list[dramatiq.Message[Any]]:
        """The first record to come, then what else came while the thread slept the linger
        off: asleep, it takes the GIL once per batch, not once per record."""
        first = self._queue.get()
        batch = [] if first is None else [first]
        if self._queue.qsize() < _MAX_BATCH:  # a full batch waiting: no reason to linger
            self._hurry.wait(_LINGER_S)
        while len(batch) < _MAX_BATCH:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                break
            if message is not None:
                batch.append(message)
        return batch


#: Records written per round trip when sends come faster than one round trip each.
_MAX_BATCH = 200
#: How long the thread sleeps after a first record, gathering the rest.
_LINGER_S = 0.02


def _write_queued(messages: list[dramatiq.Message[Any]], log: DeliveryLog) -> None:
    log.queued_all(messages)


_queued_writer = _QueuedWriter()


def flush_queued(timeout_s: float = 5.0) -> bool:
    """Write every new email's ``queued`` record now, wherever it waits; False if the time ran
    out. A read of the log does this itself; a benchmark or a test calls it to stop waiting."""
    written = _queued_writer.flush(timeout_s)
    broker = dramatiq.broker.global_broker
    if broker is not None and _records_on_enqueue(broker):
        record_all(stores.for_settings(mailer_settings.current()).delivery_log)
    return written


def _safely(
    message: dramatiq.Message[Any], write: Callable[[DeliveryLog], None], *, more: int = 0
) -> None:
    try:
        write(stores.for_settings(mailer_settings.current()).delivery_log)
    except Exception as err:  # the log must never break sending
        others = f" and {more} more" if more else ""
        logger.warning(
            "Could not log message %s%s: %s: %s",
            message.message_id,
            others,
            type(err).__name__,
            err,
        )
