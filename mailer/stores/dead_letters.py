"""The dead-letter queue, read and acted on: what failed for good, why, and sending it again.

Dramatiq's Redis broker keeps each queue's dead letters in a sorted set ``<ns>:<queue>.XQ``,
scored by when they died (ms), beside a hash ``<ns>:<queue>.XQ.msgs`` of the messages, both
under the id the broker filed the message by (its ``redis_message_id``); it drops them after a
week. ``mailer dlq`` and the dashboard both work through this module.

Letters are read newest first, a page at a time, across the queues, so listing the latest
hundred of many thousand costs a few pages. A letter's error is the delivery log's (the last
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
import heapq
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import q_name
from dramatiq.errors import DecodeError

from mailer import settings as mailer_settings
from mailer import stores
from mailer.addresses import addr_spec
from mailer.message import recipients_of, template_of
from mailer.priorities import LEVELS
from mailer.stores import keys as store
from mailer.stores.delivery_log import DeliveryLog

logger = logging.getLogger(__name__)

PAGE = 200
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


@dataclass(frozen=True)
class _Stored:
    """A letter as the broker keeps it, before the delivery log is asked for its error."""

    queue_name: str
    dead_at: float
    message: dramatiq.Message[Any]


class DeadLetters:
    """The dead letters of every queue ``broker`` declares, for the command line and the
    dashboard alike, so both read, requeue and purge them the same way."""

    def __init__(self, broker: RedisBroker, *, log: DeliveryLog | None = None) -> None:
        """``log`` defaults to the configured delivery log, looked up at each use."""
        self.broker = broker
        self.client: redis.Redis = broker.client
        self._log = log
        self._claim = self.client.register_script(_CLAIM)

    @property
    def log(self) -> DeliveryLog:
        return self._log or stores.for_settings(mailer_settings.current()).delivery_log

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
        return f"{self.broker.namespace}:{q_name(queue_name)}.XQ"

    def _stored(self, queue: str | None) -> Iterator[_Stored]:
        """Every queue's letters merged, newest first, each queue read a page at a time."""
        walks = [self._walk(name) for name in self._queues(queue)]
        return heapq.merge(*walks, key=lambda stored: stored.dead_at, reverse=True)

    def _walk(self, queue_name: str) -> Iterator[_Stored]:
        key = self._key(queue_name)
        for offset in itertools.count(0, PAGE):
            page = self.client.zrevrange(key, offset, offset + PAGE - 1, withscores=True)
            if not page:
                return
            bodies = self.client.hmget(key + ".msgs", [member for member, _ in page])
            for (_, score), body in zip(page, bodies, strict=True):
                message = _decode(body) if body is not None else None
                if message is not None:  # None: removed since the page was read
                    yield _Stored(queue_name, float(score) / 1000, message)
            if len(page) < PAGE:
                return

    def _letter(self, stored: _Stored) -> DeadLetter:
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
        return _last_line(message.options.get("traceback"))

    # --- acting ---------------------------------------------------------------------------

    def _claimed(self, letter: DeadLetter) -> bool:
        """Claim the letter if it is still dead and nobody else is acting on it."""
        member = letter.message.options["redis_message_id"]
        keys = [self._key(letter.queue_name), store.key("dlq", "claim", member)]
        return bool(self._claim(keys=keys, args=[member, CLAIM_MS]))

    def _remove(self, letter: DeadLetter) -> None:
        member = letter.message.options["redis_message_id"]
        key = self._key(letter.queue_name)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(key, member)
            pipe.hdel(key + ".msgs", member)
            pipe.delete(store.key("dlq", "claim", member))
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
            self.log.queued(message)
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


def _decode(body: bytes) -> dramatiq.Message[Any] | None:
    try:
        return dramatiq.Message.decode(body)
    except DecodeError as err:
        logger.warning("Skipped a dead letter that does not decode: %s", err)
        return None


def _last_line(traceback: object) -> str | None:
    """The exception line a traceback ends with, e.g. ``SMTPServerDisconnected: ...``."""
    if not isinstance(traceback, str):
        return None
    lines = [line.strip() for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


# KEYS: the dead-letter set, the claim. ARGV: the letter's member, the claim's lifetime (ms).
_CLAIM = """
if redis.call('zscore', KEYS[1], ARGV[1])
  and redis.call('set', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""
