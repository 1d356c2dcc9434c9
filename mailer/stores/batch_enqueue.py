"""Queue many messages in one Redis round trip, as Dramatiq's own ``enqueue`` stores them.

``RedisBroker.enqueue`` costs a round trip per message. An event's subscribers should get it
all or none, and a newsletter's 100,000 messages should not take 100,000 round trips, so:

- ``enqueue_all`` puts a few messages in one transaction, each through Dramatiq's own
  ``dispatch`` script with the arguments ``RedisBroker.enqueue`` gives it, enqueue hooks and
  all, and each new email left for its delivery log record as mailer's ``enqueue`` leaves it
  (``mailer.stores.unrecorded``): all of them are queued, or none;
- ``enqueuer`` returns a function that queues a newsletter's batch per round trip, already
  encoded. No broker hook runs: the only one on mailer's broker writes each message's
  ``queued`` record in the delivery log, which for 100,000 messages costs Redis more than the
  messages themselves; a worker writes a bulk message's whole record when it takes it.

Every copy gets a unique ``redis_message_id``, so workers consume it like any other, and each
batch wakes the idle consumers of the queues it filled (``queue_wake``). Any other
broker (the tests' ``StubBroker``) gets ``broker.enqueue``, one message at a time.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis

from mailer.message import is_new_email
from mailer.stores import unrecorded
from mailer.stores.queue_wake import wake_into

logger = logging.getLogger(__name__)


def enqueue_all(
    broker: dramatiq.Broker, messages: Sequence[dramatiq.Message[Any]]
) -> list[dramatiq.Message[Any]]:
    """Enqueue ``messages`` in one transaction; returns the enqueued copies."""
    if not isinstance(broker, RedisBroker):
        return [broker.enqueue(message) for message in messages]
    enqueued = [m.copy(options={"redis_message_id": str(uuid.uuid4())}) for m in messages]
    dispatch = broker.scripts["dispatch"]
    unrecorded_key = unrecorded.key_of(broker)
    with broker.client.pipeline(transaction=True) as pipe:
        for message in enqueued:
            broker.emit_before("enqueue", message, None)
            redis_id, data = message.options["redis_message_id"], message.encode()
            args = _dispatch_args(broker, message.queue_name, redis_id, data)
            dispatch(keys=[broker.namespace], args=args, client=pipe)
            if unrecorded_key is not None and is_new_email(broker, message):
                pipe.rpush(unrecorded_key, data)  # its delivery log record, to be written
        for queue_name in dict.fromkeys(message.queue_name for message in enqueued):
            wake_into(pipe, broker.namespace, queue_name)  # the queue's idle consumers
        pipe.execute()
    for message in enqueued:
        broker.emit_after("enqueue", message, None)
    return enqueued


class Encoded(NamedTuple):
    """One message as ``RedisBroker.enqueue`` stores it."""

    queue_name: str
    redis_message_id: str
    data: bytes  # the message, encoded with its ``redis_message_id`` option


Batch = Sequence[Encoded]


def enqueuer(broker: dramatiq.Broker) -> BatchWriter:
    """Something that queues batches of encoded messages on ``broker``; ``close()`` waits for
    the last batch and raises what went wrong with any of them."""
    if isinstance(broker, RedisBroker):
        return _RedisBatches(broker)
    return _OneByOne(broker)


class BatchWriter(Protocol):
    def __call__(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


class _OneByOne:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def __call__(self, batch: Batch) -> None:
        for encoded in batch:
            self.broker.enqueue(dramatiq.Message.decode(encoded.data))

    def close(self) -> None:
        """Nothing to wait for: every batch was enqueued before its call returned."""


class _RedisBatches:
    """Batches written by a thread of their own, so Redis stores one batch while the caller
    builds the next: the round trip and Redis's work overlap Python's, on another core. At
    most ``_IN_FLIGHT`` batches wait, so memory stays flat; the first error stops the rest."""

    _IN_FLIGHT = 2

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        dispatch = broker.scripts["dispatch"]
        broker.client.script_load(dispatch.script)  # so EVALSHA, never SCRIPT EXISTS, per batch
        self._sha = dispatch.sha
        self._batches: queue.Queue[Batch | None] = queue.Queue(self._IN_FLIGHT)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mailer-bulk", daemon=True)
        self._thread.start()

    def __call__(self, batch: Batch) -> None:
        self._raise_error()
        if batch:
            self._batches.put(batch)

    def close(self) -> None:
        self._batches.put(None)
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (batch := self._batches.get()) is not None:
            if self._error is None:
                try:
                    self._write(batch)
                except BaseException as err:  # handed to the caller's thread
                    self._error = err

    def _write(self, batch: Batch) -> None:
        with self.broker.client.pipeline(transaction=False) as pipe:
            for queue_name, encoded in _by_queue(batch).items():
                self._enqueue(pipe, queue_name, encoded)
            pipe.execute()

    def _enqueue(self, pipe: Any, queue_name: str, encoded: dict[str, bytes]) -> None:
        """The first message through Dramatiq's ``dispatch`` script (``_dispatch_args``); the
        rest as the script stores one, HSET into the queue's ``.msgs`` hash then RPUSH, in one
        command each: one EVALSHA per message would cost more than everything else together,
        since redis-py packs each argument in Python."""
        broker = self.broker
        (first_id, first), *rest = encoded.items()
        args = _dispatch_args(broker, queue_name, first_id, first)
        pipe.evalsha(self._sha, 1, broker.namespace, *args)
        if rest:
            queue_key = f"{broker.namespace}:{queue_name}"
            pipe.hset(f"{queue_key}.msgs", mapping=dict(rest))
            pipe.rpush(queue_key, *(redis_id for redis_id, _ in rest))
        wake_into(pipe, broker.namespace, queue_name)  # the queue's idle consumers


def _dispatch_args(
    broker: RedisBroker, queue_name: str, redis_message_id: str, encoded: bytes
) -> list[Any]:
    """``RedisBroker._dispatch("enqueue")``'s arguments, so the producer's heartbeat and the
    chance of a dead-worker maintenance pass stay Dramatiq's."""
    return [
        "enqueue",
        current_millis(),
        queue_name,
        broker.broker_id,
        broker.heartbeat_timeout,
        broker.dead_message_ttl,
        broker._should_do_maintenance("enqueue"),
        broker._max_unpack_size(),
        redis_message_id,
        encoded,
    ]


def _by_queue(batch: Batch) -> dict[str, dict[str, bytes]]:
    """The batch's messages by queue, in order."""
    queues: dict[str, dict[str, bytes]] = {}
    for encoded in batch:
        queues.setdefault(encoded.queue_name, {})[encoded.redis_message_id] = encoded.data
    return queues
