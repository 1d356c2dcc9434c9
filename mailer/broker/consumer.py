"""Dramatiq's Redis consumer, woken by a message's arrival instead of polling for it.

Dramatiq's ``_RedisConsumer`` fetches, and when the queue is empty sleeps a back-off that
grows to the worker's timeout before it fetches again: a message landing on an idle queue
waited up to that long (``IdlePolling`` once cut the timeout to 250 ms, at the price of four
fetches a second per queue). This consumer fetches the same way, with Dramatiq's own script,
and then:

- nothing fetched: it blocks in ``XREAD`` on the queue's wake stream
  (``mailer.stores.queue_wake``), from the last entry it saw, for up to the worker's timeout.
  Every enqueue adds an entry, so the wait ends within a round trip of the message landing.
  An entry added after the last one seen, even while this consumer was fetching, ends the
  next wait at once: no arrival is missed between the fetch and the wait.
- no room to fetch (``prefetch`` messages already handed out and not yet acked): it waits
  for acks or nacks of this process to make room, instead of sleeping a back-off. A busy
  queue is refilled once half the prefetch (at most ``REFILL_BATCH`` places) is free, not
  after every ack: each fetch is a round trip, and the rest keeps the threads busy meanwhile.
  A delay queue, whose prefetch is in the thousands, is refilled as soon as that many left.
- a delay queue's consumer wakes no later than the earliest ``eta`` its thread holds, so a
  delayed message (a retry, a rate-limit put-back) comes back on time.

The timeout still bounds every wait: the fetch after it refreshes the worker's heartbeat and
runs Dramatiq's maintenance pass (handing back a dead worker's messages) as before. Once the
worker begins to shut down, waits are cut to 50 ms: Dramatiq stops the consumers after the
worker threads, and a consumer blocked for a whole timeout would hold the exit up that long.
It also tells its broker which messages it handed out (see ``mailer.broker.redis_broker``),
and skips the ack of a message whose ack went with its outcome already.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

from mailer.stores.queue_wake import wake_key

if TYPE_CHECKING:
    from mailer.broker.redis_broker import RedisBroker

#: Where a consumer starts reading its wake stream: the entry already there ends its first
#: wait at once, which costs one extra fetch and nothing else.
_FIRST_ID = "0-0"
#: The most free places in the prefetch a consumer waits for before it fetches again.
REFILL_BATCH = 8
#: The longest wait once the worker is shutting down, so its consumers stop soon after its
#: threads instead of up to a timeout later.
_STOPPING_WAIT_MS = 50


class Consumer(_RedisConsumer):
    broker: RedisBroker

    def __init__(self, broker: RedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self._wake_key = wake_key(broker.namespace, queue_name)
        self._seen: Any = _FIRST_ID
        #: Free places in the prefetch that make a fetch worth its round trip.
        self._refill_at = max(1, min(prefetch // 2, REFILL_BATCH))
        self._room = threading.Event()  # set once acks and nacks made room enough

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is not None:  # Dramatiq skips these too (its issue #266)
                        return self._handed_out(data)
                    continue
                self._room.clear()  # before counting: an ack from now on ends the wait below
                room = self.prefetch - self.outstanding_message_count
                if room >= self._refill_at:  # an idle consumer: the whole prefetch
                    self.message_cache = self.broker.do_fetch(self.queue_name, room)
                    if self.message_cache:
                        continue
                    self._wait_for_arrival()
                else:
                    self._room.wait(self._wait_ms() / 1000)
                return None
        except redis.ConnectionError as err:
            raise ConnectionClosed(err) from None

    def _handed_out(self, data: bytes) -> MessageProxy:
        self.misses = 0
        message = Message.decode(data)
        self.queued_message_ids.add(message.message_id)
        self.broker.hold(self.queue_name, message.options["redis_message_id"])
        return MessageProxy(message)

    def _wait_for_arrival(self) -> None:
        """Block until the queue's next wake entry, or the wait's end."""
        try:
            reply = self.broker.client.xread(
                {self._wake_key: self._seen}, count=1, block=self._wait_ms()
            )
        except redis.TimeoutError:  # a socket timeout shorter than the wait: a plain timeout
            return
        if reply:
            [(_key, entries)] = reply
            self._seen = entries[-1][0]

    def _wait_ms(self) -> int:
        """The worker's timeout, cut short by the earliest delayed message's ``eta``; at
        least 1 ms, since ``BLOCK 0`` would wait for ever."""
        wait_ms = min(self.timeout, self.broker.longest_block_ms)
        if self.broker.stopping.is_set():  # told to stop once the worker threads are done
            wait_ms = min(wait_ms, _STOPPING_WAIT_MS)
        delay_queue = getattr(threading.current_thread(), "delay_queue", None)
        if delay_queue is not None:
            with delay_queue.mutex:
                if delay_queue.queue:
                    wait_ms = min(wait_ms, delay_queue.queue[0][0] - current_millis())
        return max(1, int(wait_ms))

    def ack(self, message: MessageProxy) -> None:
        try:
            if self.broker.acked_already(message.options["redis_message_id"]):
                self.queued_message_ids.discard(message.message_id)
            else:
                super().ack(message)
        finally:
            self._let_go([message])

    def nack(self, message: MessageProxy) -> None:
        try:
            self.broker.acked_already(message.options["redis_message_id"])  # a no-op if so
            super().nack(message)
        finally:
            self._let_go([message])

    def requeue(self, messages: list[MessageProxy]) -> None:
        super().requeue(messages)
        self._let_go(messages)

    def _let_go(self, messages: list[MessageProxy]) -> None:
        self.broker.release(self.queue_name, [m.options["redis_message_id"] for m in messages])
        if self.prefetch - self.outstanding_message_count >= self._refill_at:
            self._room.set()
