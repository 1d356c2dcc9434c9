"""Dramatiq's ``Retries``, made safe against a Redis outage, and able to wait without failing.

Two changes to what Dramatiq does after a message fails:

- A ``Deferred`` (the rate limit is full, the provider said "slow down", another worker holds
  the message, Redis was unreachable) is not a failure: the message comes back after the
  delay as a copy with its retries untouched and its ``deferrals`` counted.
- The copy, a retry's or a put-back's, is enqueued in ``before_ack``, not in
  ``after_process_message``. Dramatiq logs and ignores an exception raised in an ``after_*``
  hook, and then acks the original: with Redis down, the retry was lost. ``before_ack`` may
  raise an error Dramatiq honours: ``RedisUnavailable`` is its ``ConnectionError``, on which
  the worker waits and runs the ack, this hook included, again until Redis answers. The
  original is acked only once its copy exists; both carry the same message id, so should the
  worker die between the two, the receipt keeps the email from going out twice.

And one log line per failed attempt: the type, the id, attempt n of m, when the next try is
due (or that there will be none) and the provider's answer. Dramatiq's own lines about it
(``Retrying message ... in N milliseconds``, and its worker's ERROR "unhandled exception" with
a 50-line traceback for every exception an actor raises) say less at more length: they are
left out for a ``SendError``, an expected failure whose text is the provider's answer. Any
other exception keeps its traceback, as does every one when the worker runs ``--verbose``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.errors import ConnectionError as BrokerConnectionError
from dramatiq.middleware import MiddlewareError, Retries

from mailer.errors import SendError
from mailer.message import template_of
from mailer.worker.deferral import Deferred

#: Dramatiq's worker thread logs every exception an actor raises under this logger.
WORKER_LOGGER = "dramatiq.worker.WorkerThread"
_MAX_ANSWER_CHARS = 300

logger = logging.getLogger(__name__)


class RedisUnavailable(MiddlewareError, BrokerConnectionError):
    """Redis did not take a message's copy: Dramatiq holds the ack and tries again."""


class _Deferring:
    """The broker as ``Retries`` sees it: enqueues are held for ``before_ack``."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        self.held: list[tuple[dramatiq.Message[Any], int | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.broker, name)

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> None:
        self.held.append((message.copy(), delay))


class Redeliveries(Retries):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self.logger.setLevel(logging.ERROR)  # the line below says what its INFO lines did
        quiet_expected_failures()
        self._lock = threading.Lock()
        self._held: dict[str, list[tuple[dramatiq.Message[Any], int | None]]] = {}

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        if isinstance(exception, Deferred):
            deferrals = message.options.get("deferrals", 0) + 1
            copy = message.copy(options={**exception.options, "deferrals": deferrals})
            self._hold(message, [(copy, exception.delay_ms)])
            logger.info(
                "Put back message %s for %d ms: %s.",
                message.message_id,
                exception.delay_ms,
                exception.reason,
            )
            return
        deferring = _Deferring(broker)
        super().after_process_message(  # type: ignore[no-untyped-call]
            deferring, message, result=result, exception=exception
        )
        if deferring.held:
            self._hold(message, deferring.held)
        if exception is not None:
            _log_failure(broker, message, exception, deferring.held)

    def before_ack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        key = _key(message)
        with self._lock:
            held = self._held.get(key, [])
        while held:
            copy, delay = held[0]
            try:
                broker.enqueue(copy, delay=delay)
            except (redis.ConnectionError, redis.TimeoutError, BrokerConnectionError) as err:
                note = f"could not enqueue the copy of message {message.message_id}"
                raise RedisUnavailable(note) from err  # type: ignore[no-untyped-call]
            held.pop(0)
        with self._lock:
            self._held.pop(key, None)

    def _hold(
        self, message: MessageProxy, copies: list[tuple[dramatiq.Message[Any], int | None]]
    ) -> None:
        with self._lock:
            self._held[_key(message)] = copies


def _log_failure(
    broker: dramatiq.Broker,
    message: MessageProxy,
    exception: BaseException,
    held: list[tuple[dramatiq.Message[Any], int | None]],
) -> None:
    """``Failed welcome message ID, attempt 2 of 9, next try at 07:01:02Z: <answer>``."""
    actor = broker.get_actor(message.actor_name)
    retries = int(message.options.get("retries", 0))
    max_retries = message.options.get("max_retries", actor.options.get("max_retries", 20))
    throws = message.options.get("throws") or actor.options.get("throws")
    attempt = retries + 1 if throws and isinstance(exception, throws) else retries
    if held:
        at_s = time.time() + (held[0][1] or 0) / 1000
        next_try = "next try at " + datetime.fromtimestamp(at_s, timezone.utc).strftime(_AT)
    else:
        next_try = "will not be retried"
    answer = str(exception)[:_MAX_ANSWER_CHARS] or type(exception).__name__
    logger.warning(
        "Failed %s message %s, attempt %d of %d, %s: %s",
        template_of(message),
        message.message_id,
        attempt,
        int(max_retries) + 1,
        next_try,
        answer,
    )


_AT = "%Y-%m-%dT%H:%M:%SZ"


class _ExpectedFailures(logging.Filter):
    """Drops the worker's traceback of a ``SendError`` unless the worker runs ``--verbose``."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, SendError):
            return True
        return logging.getLogger(WORKER_LOGGER).isEnabledFor(logging.DEBUG)


_FILTER = _ExpectedFailures()


def quiet_expected_failures() -> None:
    """Install the filter on Dramatiq's worker logger, once per process."""
    worker_logger = logging.getLogger(WORKER_LOGGER)
    if _FILTER not in worker_logger.filters:
        worker_logger.addFilter(_FILTER)


def _key(message: MessageProxy) -> str:
    """The delivery's own id: the message id is shared by every copy of one message."""
    return str(message.options.get("redis_message_id") or message.message_id)
