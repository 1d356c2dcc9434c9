"""New emails whose ``queued`` record is still to be written, as their enqueue left them.

The delivery log's first record of an email costs Redis more than its enqueue does (the
record, its indexes, the counters). ``send_email`` does not wait for it, nor spend its
process's CPU on it: the script that stores and queues a new email also pushes the encoded
message onto this list (``queue_wake.enqueue``), and the record is written from there:

- by a thread in every worker process, which blocks on the list and records what arrives, in
  batches (``mailer.middleware.log_deliveries``);
- by every read of the log, which first records what is still on the list, so a search right
  after ``send_email`` finds the email even while no worker runs.

Taking messages off the list is atomic, so each is recorded by one process. One taken by a
process that dies before writing its record loses only the record's ``queued`` step: the worker
that sends the email writes the whole record when it takes the message, as it does for every
message without one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import dramatiq
import redis
from dramatiq.errors import DecodeError

from mailer.stores.keys import DEFAULT_PREFIX, namespaced

if TYPE_CHECKING:
    from mailer.stores.delivery_log import DeliveryLog

logger = logging.getLogger(__name__)

#: Messages taken off the list in one round trip.
BATCH = 200


def unrecorded_key(prefix: str = DEFAULT_PREFIX) -> str:
    """The list the enqueue script pushes each new email's encoded message onto."""
    return namespaced(prefix, "log", "unrecorded")


def key_of(broker: dramatiq.Broker) -> str | None:
    """The list ``broker``'s enqueues leave new emails on: mailer's Redis broker has one, any
    other broker (a test's ``StubBroker``) none, and its emails are recorded another way."""
    key: str | None = getattr(broker, "unrecorded_key", None)
    return key


def record_all(log: DeliveryLog, taken: list[dramatiq.Message[Any]] | None = None) -> int:
    """Write the ``queued`` record of ``taken`` and of every email still on ``log``'s list;
    how many. ``queued_all`` leaves alone any record a worker has written meanwhile."""
    total, messages = 0, list(taken or ())
    while True:
        more = take(log.client, log.unrecorded_key)
        messages.extend(more)
        if messages:
            log.queued_all(messages)
        total, messages = total + len(messages), []
        if len(more) < BATCH:
            return total


def take(client: redis.Redis, key: str, limit: int = BATCH) -> list[dramatiq.Message[Any]]:
    """Up to ``limit`` messages from the head of the list, removed in the same transaction."""
    with client.pipeline(transaction=True) as pipe:
        pipe.lrange(key, 0, limit - 1)
        pipe.ltrim(key, limit, -1)
        found, _ = pipe.execute()
    return _decoded(found)


def wait(client: redis.Redis, key: str, timeout_s: float) -> list[dramatiq.Message[Any]]:
    """The first message to arrive within ``timeout_s``, taken off the list; none if none."""
    arrived = client.blpop([key], timeout=timeout_s)
    return [] if arrived is None else _decoded([arrived[1]])


def _decoded(found: list[bytes]) -> list[dramatiq.Message[Any]]:
    messages = []
    for data in found:
        try:
            messages.append(dramatiq.Message.decode(data))
        except DecodeError as err:  # a record is bookkeeping: one bad entry must not stop the rest
            logger.warning("Dropped an unreadable unrecorded message: %s", err)
    return messages
