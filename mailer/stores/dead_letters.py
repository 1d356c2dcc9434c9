"""The dead-letter queue, read and acted on: what failed for good, why, and sending it again.

``mailer dlq`` and the dashboard both work through this module. Letters are read newest first
across the queues (``dead_letter_reading``). A letter's error is the delivery log's (the last
attempt's own words); past the log's retention it falls back on the traceback Dramatiq kept,
which is the attempt before the last one's.

A requeued letter goes through ``broker.enqueue``, so the delivery log sees it queued again,
under the same message id with its retries reset, and is removed from the dead letters only
then. A crash in between leaves it both queued and dead; requeued again, the second copy finds
the first one's send receipt and is skipped. Each requeue or purge first claims the letter
for a while, so two people (at the dashboard and the command line) never both act on one.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import q_name

from mailer.addresses import addr_spec
from mailer.message import recipients_of, template_of
from mailer.priorities import LEVELS
from mailer.stores import lua
from mailer.stores.dead_letter_reading import (
    PAGE,
    StoredLetter,
    dead_set_key,
    last_line,
    newest_first,
)
from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.keys import DEFAULT_PREFIX, namespaced

__all__ = ["CLAIM_MS", "PAGE", "DeadLetter", "DeadLetters"]

logger = logging.getLogger(__name__)

#: How long a requeue or purge holds a letter: far longer than either takes.
CLAIM_MS = 30_000
#: Options that describe the attempts that failed rather than the email: a requeued letter
#: starts afresh, its retry count at 0.
_ATTEMPT_OPTIONS = frozenset(
    {"retries", "traceback", "requeue_timestamp", "eta", "deferrals", "redis_message_id"}
)


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    queue_name: str
    template: str  # the email type; for the few other actors, the actor's name
    to: list[str]
    error: str | None
    dead_at: float  # epoch seconds
    message: dramatiq.Message[Any]

    @property
    def retries(self) -> int:
        """How often it was retried before it died."""
        return int(self.message.options.get("retries", 0))


class DeadLetters:
    """The dead letters of every queue ``broker`` declares, for the command line and the
    dashboard alike, so both read, requeue and purge them the same way."""

    def __init__(
        self,
        broker: RedisBroker,
        *,
        log: DeliveryLog,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        """``log`` names each letter's error and records requeues and purges; ``prefix`` is
        the one of mailer's own keys (the claims), Dramatiq's keys being the broker's.
        """
        self.broker = broker
        self.client: redis.Redis = broker.client
        self.prefix = prefix
        self.log = log
        self._claim = self.client.register_script(lua.source("dead_letter_claim"))

    def list(
        self,
        *,
        queue: str | None = None,
        template: str | None = None,
        error: str | None = None,
        to: str | None = None,
        limit: int | None = 100,
    ) -> builtins.list[DeadLetter]:
        """Newest first. ``queue``: a queue's name or a priority level; ``error``: part of the
        error, in any case; ``to``: a recipient's address, in any case; ``limit=None``: all."""
        found: builtins.list[DeadLetter] = []
        if limit is not None and limit < 1:
            return found
        for stored in self._stored(queue):
            if not _matches(stored.message, template, to):
                continue  # cheap checks first: the error costs a look in the delivery log
            letter = self._letter(stored)
            if error is None or error.lower() in (letter.error or "").lower():
                found.append(letter)
                if len(found) == limit:
                    break
        return found

    def get(self, message_id: str) -> DeadLetter | None:
        for stored in self._stored(None):
            if stored.message.message_id == message_id:
                return self._letter(stored)
        return None

    def count(self, queue: str | None = None) -> int:
        """How many letters there are in all, without reading them."""
        return sum(int(self.client.zcard(self._key(name))) for name in self._queues(queue))

    def requeue(self, letters: Iterable[DeadLetter]) -> int:
        """Send each letter again from the start, on its queue; returns how many went back.

        A letter that is gone by now (requeued, purged or expired meanwhile) is passed over.
        """
        requeued = 0
        for letter in letters:
            if self._claimed(letter):
                afresh = self.broker.enqueue(_afresh(letter.message, q_name(letter.queue_name)))
                self._remove(letter)
                self._log_requeued(afresh)
                requeued += 1
        return requeued

    def purge(self, letters: Iterable[DeadLetter]) -> int:
        """Delete each letter for good; the delivery log then calls the email ``failed``."""
        purged = 0
        for letter in letters:
            if self._claimed(letter):
                self._remove(letter)
                self._log_purged(letter.message_id)
                purged += 1
        return purged

    # --- reading --------------------------------------------------------------------------

    def _queues(self, queue: str | None) -> builtins.list[str]:
        if queue is None:
            return sorted(self.broker.get_declared_queues())
        return [LEVELS[queue].queue_name if queue in LEVELS else queue]

    def _key(self, queue_name: str) -> str:
        return dead_set_key(self.broker.namespace, queue_name)

    def _claim_key(self, member: str) -> str:
        return namespaced(self.prefix, "dlq", "claim", member)

    def _stored(self, queue: str | None) -> Iterator[StoredLetter]:
        return newest_first(self.client, self.broker.namespace, self._queues(queue))

    def _letter(self, stored: StoredLetter) -> DeadLetter:
        message = stored.message
        return DeadLetter(
            message_id=message.message_id,
            queue_name=stored.queue_name,
            template=template_of(message),
            to=recipients_of(message),
            error=self._error(message),
            dead_at=stored.dead_at,
            message=message,
        )

    def _error(self, message: dramatiq.Message[Any]) -> str | None:
        delivery = self.log.get(message.message_id)
        if delivery is not None and delivery.error:
            return delivery.error
        return last_line(message.options.get("traceback"))

    # --- acting ---------------------------------------------------------------------------

    def _claimed(self, letter: DeadLetter) -> bool:
        """Claim the letter if it is still dead and nobody else is acting on it."""
        member = letter.message.options["redis_message_id"]
        keys = [self._key(letter.queue_name), self._claim_key(member)]
        return bool(self._claim(keys=keys, args=[member, CLAIM_MS]))

    def _remove(self, letter: DeadLetter) -> None:
        member = letter.message.options["redis_message_id"]
        key = self._key(letter.queue_name)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(key, member)
            pipe.hdel(key + ".msgs", member)
            pipe.delete(self._claim_key(member))
            pipe.execute()

    def _log_purged(self, message_id: str) -> None:
        """Only over a record that exists and does not say ``sent``: another copy of the same
        message id may have gone out since, and the log must not call that email failed."""
        delivery = self.log.get(message_id)
        if delivery is not None and delivery.status != "sent":
            self.log.purged(message_id)

    def _log_requeued(self, message: dramatiq.Message[Any]) -> None:
        """Written here, at once: the enqueue's own background record only ever creates one,
        so that a late write never turns a dead or sent email back into ``queued``."""
        try:
            self.log.requeued(message)
        except Exception as err:  # the log is bookkeeping; the requeue itself went through
            logger.warning("Could not log the requeue of %s: %s", message.message_id, err)


def _matches(message: dramatiq.Message[Any], template: str | None, to: str | None) -> bool:
    if template is not None and template_of(message) != template:
        return False
    if to is None:
        return True
    wanted = addr_spec(to).lower()
    return any(addr_spec(address).lower() == wanted for address in recipients_of(message))


def _afresh(message: dramatiq.Message[Any], queue_name: str) -> dramatiq.Message[Any]:
    """The email as it was first sent, on its own (not delayed) queue, its retries at 0."""
    options = {k: v for k, v in message.options.items() if k not in _ATTEMPT_OPTIONS}
    return dataclasses.replace(message, queue_name=queue_name, options={**options, "retries": 0})
