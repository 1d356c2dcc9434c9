"""Putting a message back for later without spending one of its retries.

Dramatiq's ``Retries`` counts every exception an actor raises, so a message that merely has to
wait (the rate limit is full, the provider said "slow down", another worker is sending it right
now) would burn its retries and end up dead-lettered for being on time (dramatiq #257). Instead
a delayed copy is enqueued, exactly as ``Retries`` enqueues a retry but with ``retries``
untouched, and the current delivery ends with ``SkipMessage``, which acks it.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import dramatiq
from dramatiq.middleware import SkipMessage

logger = logging.getLogger(__name__)


class Deferred(Exception):
    """Raised inside an actor: send this message again in ``delay_ms``, and say ``reason``."""

    def __init__(self, delay_ms: int, reason: str) -> None:
        self.delay_ms = max(1, int(delay_ms))
        self.reason = reason
        super().__init__(f"deferred by {self.delay_ms} ms: {reason}")


def put_back(
    broker: dramatiq.Broker, message: dramatiq.Message[object], deferred: Deferred
) -> NoReturn:
    """Enqueue ``message`` again after the delay and skip this delivery of it.

    Both copies share the message id; should the worker die between the enqueue and the ack,
    the redelivered original is recognised as already sent (``SendOnce``).
    """
    deferrals = message.options.get("deferrals", 0) + 1
    broker.enqueue(message.copy(options={"deferrals": deferrals}), delay=deferred.delay_ms)
    logger.info(
        "Put back message %s for %d ms: %s.", message.message_id, deferred.delay_ms, deferred.reason
    )
    raise SkipMessage(deferred.reason)
