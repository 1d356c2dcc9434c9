"""A sent email's outcome goes to Redis at once; its thread reads the answer later.

Once the provider has taken an email, what is left is one batch of bookkeeping
(``mailer.worker.settle``): the receipt, the releases, the log's ``sent``, the counters and the
message's ack. Waiting on its answer cost a worker more than any step of the send itself: the
thread gives up the interpreter lock, sleeps, is woken and queues behind the rendering threads
to take the lock back. So the thread writes the batch, as one composed script, on a connection
of its own and goes on with its next message; by the time it is about to call a provider
again (``finish_previous``) the answer has long arrived, and is read without waiting.

The same connection carries the next transactional email's gate (``call_ahead``), which the
thread sends before it renders and reads after: that answer comes behind the last outcome's,
so reading it reads that one first.

What that must not change, and how it does not:

- The batch is on its way to Redis before the thread goes on, as it was: a worker killed
  outright leaves unrecorded only what it left before (an email whose receipt Redis had not
  yet written).
- Each thread has at most one email a provider may have taken with no receipt known written:
  the answer to its last outcome is read before its next provider call. An outcome Redis did
  not take (a connection dropped) is written again there, until Redis takes it, as the thread
  did before.
- The message is acked in the same batch as its receipt, never before it: Dramatiq's own ack
  is skipped for it (``mailer.broker.redis_broker``).
- A thread that goes idle does not leave its last answer unread for long: a reaper reads every
  answer older than ``REAP_AFTER_S``, and a stopping worker reads them all (``flush_all``).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from redis.exceptions import NoScriptError

from mailer.stores.connection import read_reply
from mailer.stores.scripts import Batch, Script

logger = logging.getLogger(__name__)

#: How old an unread answer gets before the reaper reads it for an idle thread.
REAP_AFTER_S = 0.25
#: Longest pause between two tries while Redis is unreachable.
MAX_BACKOFF_S = 2.0


_settlers: weakref.WeakSet[Settler] = weakref.WeakSet()


@dataclass
class _Outcome:
    """One thread's outcome on the wire, its answer not read yet."""

    batch: Batch
    message_id: str
    connection: Any
    call: tuple[Any, list[Any], list[Any]]  # the composed script, its keys, its arguments
    sock: Any = None  # the socket it went out on: made again since, its answer is gone
    sent_s: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False


class Settler:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unread: dict[int, _Outcome] = {}  # by thread
        self._local = threading.local()
        self._reaper: threading.Thread | None = None
        _settlers.add(self)

    def submit(self, batch: Batch, message_id: str) -> None:
        """Send ``batch`` (``message_id``'s outcome) now; its answer is read later."""
        self.finish_previous()
        connection = self._connection(batch.client)
        script, keys, args = batch.composed_call()
        try:
            connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except (redis.ConnectionError, redis.TimeoutError):
            connection.disconnect()
            _write_until_taken(batch, message_id, deadline_s=None)
            return
        outcome = _Outcome(batch, message_id, connection, (script, keys, args), connection._sock)
        with self._lock:
            self._unread[threading.get_ident()] = outcome
            self._start_reaper()

    def call_ahead(
        self, client: redis.Redis, script: Script, keys: list[str], args: list[Any]
    ) -> Callable[[], Any]:
        """Send a script's call on this thread's connection now, behind its last outcome; the
        function returned reads that outcome's answer, then this one's."""
        connection = self._connection(client)
        connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        sock = connection._sock

        def answer() -> Any:
            self.finish_previous()
            try:
                if connection._sock is not sock:  # made again since: the answer is gone
                    raise redis.ConnectionError("the connection was made again")
                return read_reply(connection)
            except NoScriptError:
                return script(client, keys, args)
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()
                raise

        return answer

    def finish_previous(self) -> None:
        """Read the answer to this thread's last outcome, writing it again if Redis did not
        take it: before a provider call, so no thread has two emails without a receipt."""
        with self._lock:
            outcome = self._unread.pop(threading.get_ident(), None)
        if outcome is not None:
            _finish(outcome, deadline_s=None)

    def flush(self, timeout_s: float) -> bool:
        """Read every thread's unread answer; False if Redis took too long to take them."""
        return self._finish_listed(0.0, deadline_s=time.monotonic() + timeout_s)

    def _connection(self, client: redis.Redis) -> Any:
        """This thread's own connection for calls answered later, so no other thread's
        answer comes between one call and its answer."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = client.connection_pool.make_connection()
            self._local.connection = connection
        return connection

    def _start_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():  # a fork has no threads
            self._reaper = threading.Thread(target=self._reap, name="mailer-outcomes", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(REAP_AFTER_S)
            self._finish_listed(REAP_AFTER_S, deadline_s=None)

    def _finish_listed(self, older_than_s: float, deadline_s: float | None) -> bool:
        """Finish the outcomes sent more than ``older_than_s`` ago for their threads. Each
        stays listed until finished, so its thread's ``finish_previous`` waits for it."""
        stale_s = time.monotonic() - older_than_s
        with self._lock:
            stale = [(t, o) for t, o in self._unread.items() if o.sent_s <= stale_s]
        finished = True
        for thread, outcome in stale:
            finished = _finish(outcome, deadline_s) and finished
            with self._lock:
                if self._unread.get(thread) is outcome:
                    del self._unread[thread]
        return finished


def _finish(outcome: _Outcome, deadline_s: float | None) -> bool:
    """Read ``outcome``'s answer and run its batch's callbacks; written again where Redis did
    not take it. False if it is still not written at ``deadline_s``."""
    with outcome.lock:
        if outcome.done:
            return True
        outcome.done = True
        script, keys, args = outcome.call
        if outcome.connection._sock is not outcome.sock:  # made again since: answer gone
            return _write_until_taken(outcome.batch, outcome.message_id, deadline_s)
        try:
            replies = read_reply(outcome.connection)
        except NoScriptError:  # a Redis that restarted meanwhile: the script in full, once
            replies = script(outcome.batch.client, keys, args)
        except (redis.ConnectionError, redis.TimeoutError):
            outcome.connection.disconnect()
            return _write_until_taken(outcome.batch, outcome.message_id, deadline_s)
        _report(outcome.message_id, outcome.batch.finish_composed(replies))
        return True


def _write_until_taken(batch: Batch, message_id: str, deadline_s: float | None) -> bool:
    def write() -> None:
        _report(message_id, batch.finish_composed(batch.execute_composed()))

    def give_up() -> bool:
        return deadline_s is not None and time.monotonic() + MAX_BACKOFF_S > deadline_s

    try:
        until_redis_takes(write, message_id, give_up)
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    return True


T = TypeVar("T")


def until_redis_takes(write: Callable[[], T], message_id: str, give_up: Callable[[], bool]) -> T:
    """``write()`` an outcome, trying again while Redis is unreachable, with a growing pause;
    the error is raised once ``give_up()`` says so."""
    delay_s = 0.1
    while True:
        try:
            return write()
        except (redis.ConnectionError, redis.TimeoutError) as err:
            if give_up():
                raise
            logger.warning(
                "Could not write the outcome of message %s (%s: %s); trying again in %.1f s.",
                message_id,
                type(err).__name__,
                err,
                delay_s,
            )
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, MAX_BACKOFF_S)


def _report(message_id: str, error: Exception | None) -> None:
    if error is not None:  # a bug's: the other parts of the batch were written
        logger.error(
            "Could not write the outcome of message %s: %s: %s",
            message_id,
            type(error).__name__,
            error,
        )


def flush_all(timeout_s: float) -> bool:
    """Read every unread answer of this process, for up to ``timeout_s``; False if some
    outcome was still not written then."""
    deadline_s = time.monotonic() + timeout_s
    return all([s.flush(max(0.0, deadline_s - time.monotonic())) for s in list(_settlers)])
