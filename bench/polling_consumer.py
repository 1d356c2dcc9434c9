"""Loaded into a benchmark worker after ``mailer.actors``: the consumer mailer had before it
blocked on wake streams, as the baseline of ``bench.idle_latency``.

Dramatiq's own Redis consumer, which sleeps a back-off of up to the worker's timeout when its
queue is empty, and that timeout cut to 250 ms as the ``IdlePolling`` middleware did::

    dramatiq mailer.actors bench.polling_consumer --processes 1
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.brokers.redis import _RedisConsumer

IDLE_POLL_MS = 250


class IdlePolling(Middleware):
    """The worker's timeout, and with it the longest back-off, cut to ``IDLE_POLL_MS``."""

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        worker.worker_timeout = min(worker.worker_timeout, IDLE_POLL_MS)


def _polling_consume(queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
    return _RedisConsumer(broker, queue_name, prefetch, timeout)


broker: Any = dramatiq.get_broker()
broker.consume = _polling_consume
broker.add_middleware(IdlePolling())
