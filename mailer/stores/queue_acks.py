"""Dramatiq's ack written into a batch of a send's own, instead of a round trip after it.

Dramatiq acks a message once its actor has returned: one more script call, one more round
trip, and on a busy worker each round trip costs more CPU than building an email. A sent
email's outcome is written in one pipeline anyway (``mailer.worker.settle``); its ack goes in
that pipeline, and the consumer then skips its own (``mailer.broker.consumer``). Once the
receipt is written the email counts as sent whatever happens to the message, so acking it in
the same round trip loses nothing: a worker that dies right after leaves nothing to redo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailer.stores.scripts import Batch, Script

_ACK = Script("queue_ack.lua")


def acks_key(namespace: str, broker_id: str, queue_name: str) -> str:
    """Dramatiq's set of the messages a worker fetched from a queue and has not acked."""
    return f"{namespace}:__acks__.{broker_id}.{queue_name}"


def ack_into(
    batch: Batch,
    namespace: str,
    broker_id: str,
    queue_name: str,
    redis_message_id: str,
    then: Callable[[Any], None] | None = None,
) -> None:
    """Ack one message as Dramatiq's ``dispatch`` script does, in ``batch``; ``then`` runs
    once the batch has."""
    keys = [acks_key(namespace, broker_id, queue_name), f"{namespace}:{queue_name}.msgs"]
    batch.script(_ACK, keys, [redis_message_id], then=then)
