"""Find a message Redis still holds, for inspection (``pages.message`` renders it).

The delivery log keeps what happened to a message, not the message: that lives in Dramatiq's
queues only while it waits, runs, is delayed or lies dead. Dramatiq files each one under a
Redis id of its own, so a lookup by message id scans the queue the log names; the dashboard
does this for one message at a time, when an operator opens its page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name

from mailer.stores.dead_letters import DeadLetter, DeadLetters
from mailer.templates import Rendered

_SCAN_PAGE = 500


@dataclass(frozen=True)
class Stored:
    """A message as Redis holds it; ``dead_letter`` is set when it lies in the dead letters."""

    message: dramatiq.Message[Any]
    where: str  # "dead letters", "queue" or "delayed"
    dead_letter: DeadLetter | None = None


@dataclass(frozen=True)
class Preview:
    """The rendered email, or why it could not be rendered (often why it died)."""

    rendered: Rendered | None
    error: str | None = None


class MessageFinder:
    def __init__(self, broker: RedisBroker, dead_letters: DeadLetters) -> None:
        self.broker = broker
        self.dead_letters = dead_letters

    def find(self, message_id: str, queue_name: str | None) -> Stored | None:
        """Dead letters first (what an operator comes for), then the queue and its delays.

        Without a ``queue_name`` (the log has no record of it) every queue is searched.
        """
        letter = self.dead_letters.get(message_id)
        if letter is not None:
            return Stored(letter.message, "dead letters", letter)
        for name, where in self._places(queue_name):
            message = self._scan(name, message_id)
            if message is not None:
                return Stored(message, where)
        return None

    def _places(self, queue_name: str | None) -> Iterator[tuple[str, str]]:
        names = [queue_name] if queue_name else sorted(self.broker.get_declared_queues())
        for name in names:
            yield name, "queue"
            yield dq_name(name), "delayed"

    def _scan(self, queue: str, message_id: str) -> dramatiq.Message[Any] | None:
        key, needle = f"{self.broker.namespace}:{queue}.msgs", message_id.encode()
        for raw in self.broker.client.hscan_iter(key, count=_SCAN_PAGE):
            data: bytes = raw[1]
            if needle not in data:  # cheap before decoding: the id is in the JSON verbatim
                continue
            message = dramatiq.Message.decode(data)
            if message.message_id == message_id:
                return message
        return None
