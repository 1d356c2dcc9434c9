"""Dramatiq's Redis broker, handing back what a lost connection cut off from a live worker.

Dramatiq moves the messages it fetches into the worker's acks set in the same script that
returns them. Three things leave messages there that no thread of the worker holds: Redis
restarting after it ran that script but before its answer reached the worker; a consumer
thread dropping its in-memory delay queue on a connection error (Dramatiq resets it); and a
consumer rebuilt after an error dropping the batch it had prefetched. Dramatiq hands an acks
set back only once the worker's heartbeat has expired: for a worker that lives on, never.

So each time a consumer thread starts a consumer again, the ids in this worker's acks set for
that queue that no thread holds go back on the queue. Held are the messages handed out and not
yet acked, nacked or put back, and those waiting in the thread's delay queue. Dramatiq's
``requeue`` moves only ids still in the acks set, so one acked meanwhile is left alone.

A sent email's ack goes in the batch that writes its outcome (``ack_into``,
``mailer.stores.queue_acks``); its consumer then skips the round trip of its own.

Every write that puts messages on a queue also wakes the queue's idle consumers, which block
on a wake stream instead of polling (``mailer.broker.consumer``): an enqueue is one script
that stores the message and wakes the queue in the same round trip.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker
from dramatiq.errors import ConnectionClosed

from mailer.broker.consumer import Consumer
from mailer.broker.hooks import ListenersOnly
from mailer.message import is_new_email
from mailer.stores import queue_acks, queue_wake
from mailer.stores.scripts import Batch

logger = logging.getLogger(__name__)

_NO_LIMIT_MS = 2**31
_MARGIN_MS = 100


class RedisBroker(ListenersOnly, DramatiqRedisBroker):
    def __init__(self, *, unrecorded_key: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        #: Where a new email's enqueue leaves it for its delivery log record
        #: (``mailer.stores.unrecorded``); None: the ``LogDeliveries`` middleware writes it.
        self.unrecorded_key = unrecorded_key
        self._enqueuing = threading.local()
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = defaultdict(set)  # redis message ids, by queue
        self._consumed: set[str] = set()
        self._acked: set[str] = set()  # redis message ids acked with their outcome
        #: Set as the worker begins to shut down: its consumers stop blocking for long.
        self.stopping = threading.Event()

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        if signal == "worker_shutdown":
            self.stopping.set()
        elif signal == "worker_boot":  # a worker started again in this process (tests do)
            self.stopping.clear()
        super().emit_before(signal, *args, **kwargs)

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        with self._lock:
            again = queue_name in self._consumed
            self._consumed.add(queue_name)
        if again:
            try:
                self._hand_back_unheld(queue_name)
            except redis.ConnectionError as err:  # still down: the consumer thread tries again
                raise ConnectionClosed(err) from None
        return Consumer(self, queue_name, prefetch, timeout)

    @property
    def longest_block_ms(self) -> int:
        """How long a consumer may block in one call: under the socket timeout, if any, so a
        quiet queue never reads as a dead connection."""
        timeout_s = self.client.connection_pool.connection_kwargs.get("socket_timeout")
        return _NO_LIMIT_MS if not timeout_s else max(1, int(timeout_s * 1000) - _MARGIN_MS)

    def enqueue(
        self, message: dramatiq.Message[Any], *, delay: int | None = None
    ) -> dramatiq.Message[Any]:
        new = self.unrecorded_key is not None and is_new_email(self, message)
        self._enqueuing.unrecorded_key = self.unrecorded_key if new else None
        enqueued: dramatiq.Message[Any] = super().enqueue(message, delay=delay)
        return enqueued

    def do_enqueue(self, queue_name: str, redis_message_id: str, data: bytes) -> None:
        """Dramatiq's enqueue, the queue's wake-up included, in one script, which also leaves
        a new email for its delivery log record. Unlike Dramatiq's ``dispatch``, it stamps no
        heartbeat for a producer, which has no messages to hand back, and leaves the
        maintenance pass to the consumers' fetches."""
        unrecorded_key, self._enqueuing.unrecorded_key = self._unrecorded_key(), None
        queue_wake.enqueue(
            self.client,
            self.namespace,
            queue_name,
            redis_message_id,
            data,
            unrecorded_key=unrecorded_key,
        )

    def _unrecorded_key(self) -> str | None:
        """The key ``enqueue`` chose for the message it is storing (set on this thread)."""
        return getattr(self._enqueuing, "unrecorded_key", None)

    def do_requeue(self, queue_name: str, *redis_message_ids: str) -> Any:
        """Dramatiq's requeue, then a wake-up for the consumers of the queue it refilled."""
        result = self._dispatch("requeue")(queue_name, *redis_message_ids)
        queue_wake.wake(self.client, self.namespace, queue_name)
        return result

    def ack_into(self, batch: Batch, message: MessageProxy) -> bool:
        """Ack ``message``, which a worker thread is processing, in ``batch``; whether it did.
        Its consumer then skips its own ack (``acked_already``) even before the batch's answer
        is read (``mailer.worker.settler``): until Redis has run it, the message stays in
        this worker's acks set. A message this broker's consumers
        did not hand out is left to whoever did."""
        redis_message_id = message.options.get("redis_message_id")
        with self._lock:
            if redis_message_id not in self._held[message.queue_name]:
                return False
            self._acked.add(redis_message_id)
        namespace, queue_name = self.namespace, message.queue_name
        queue_acks.ack_into(batch, namespace, self.broker_id, queue_name, redis_message_id)
        return True

    def acked_already(self, redis_message_id: str) -> bool:
        """Whether ``ack_into`` acked this message; forgotten once asked."""
        with self._lock:
            if redis_message_id not in self._acked:
                return False
            self._acked.discard(redis_message_id)
            return True

    def hold(self, queue_name: str, redis_message_id: str) -> None:
        with self._lock:
            self._held[queue_name].add(redis_message_id)

    def release(self, queue_name: str, redis_message_ids: list[str]) -> None:
        with self._lock:
            self._held[queue_name].difference_update(redis_message_ids)

    def _hand_back_unheld(self, queue_name: str) -> None:
        acks = queue_acks.acks_key(self.namespace, self.broker_id, queue_name)
        fetched = {bytes(member).decode() for member in self.client.smembers(acks)}
        stale = sorted(fetched - self._holding(queue_name))
        if stale:
            self.do_requeue(queue_name, *stale)
            logger.info("Put back %d message(s) on %s that no thread held.", len(stale), queue_name)

    def _holding(self, queue_name: str) -> set[str]:
        """What this process still holds of a queue; a delayed queue's messages wait in the
        calling consumer thread's delay queue, which Dramatiq empties on a connection error."""
        if not queue_name.endswith(".DQ"):
            with self._lock:
                return set(self._held[queue_name])
        delay_queue = getattr(threading.current_thread(), "delay_queue", None)
        waiting = list(delay_queue.queue) if delay_queue is not None else []
        ids = {message.options.get("redis_message_id") for _, message in waiting}
        with self._lock:
            self._held[queue_name] = {i for i in ids if i}
            return set(self._held[queue_name])
