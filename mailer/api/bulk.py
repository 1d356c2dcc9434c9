"""``send_bulk``: one email type to many recipients, a newsletter, queued in batches.

The recipients come from an iterable that is read once, lazily (a generator over a database
cursor), so memory stays flat however long the list. The call itself is checked first, as
``send_email`` checks it, and a mistake there raises before anything is queued. A bad recipient
(a malformed address, a variable their context lacks) does not stop a 100,000-row send half
way: it is skipped and counted, and the first ``MAX_REJECTED_SAMPLES`` are kept for the caller.

Each message is exactly what ``send_email`` would queue for that recipient (plus a
``bulk_id`` message option), on the priority level's queue: ``low`` by default, so
transactional mail goes first. On Redis they are queued ``BATCH_SIZE`` per round trip
(``mailer.stores.batch_enqueue``)
while the next batch is built. A bulk message enters the delivery log
when a worker takes it, not when it is queued: writing 100,000 ``queued`` records would cost
Redis three times what queueing the messages does; until then the queue's depth (dashboard,
``/metrics``) is the newsletter's progress.

With a ``key``, message ids derive from the key and the recipient's address, so running the
same bulk again after a crash half way mails nobody twice: the worker skips a message id that
already has a send receipt (``SendOnce``), for as long as receipts are kept,
``MAILER_IDEMPOTENCY_TTL`` (a day by default). A recipient listed twice is mailed once, too:
the later rows are skipped before queueing and counted apart (``BulkResult.duplicates``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dramatiq

from mailer import settings as mailer_settings
from mailer.addresses import addr_spec, parse_address
from mailer.api.bulk_recipients import (
    Recipient,
    Rejection,
    Rejections,
    check_recipients,
    recipient,
)
from mailer.api.email import check_context, email_message
from mailer.api.redis_errors import maps_broker_errors
from mailer.argument_checks import check_key
from mailer.envelope import Email, check_headers
from mailer.errors import ValidationError
from mailer.message import MessageParts, uuid5
from mailer.priorities import Priority, parse_priority
from mailer.settings import Settings
from mailer.stores.batch_enqueue import Encoded, enqueuer
from mailer.templates import Templates, for_settings
from mailer.worker.unsubscribe_links import require_links

if TYPE_CHECKING:
    from mailer.actors.emails import EmailType

logger = logging.getLogger(__name__)

#: Messages per Redis round trip: big enough that the round trips cost nothing next to the
#: messages, small enough that a batch's pipeline stays around a megabyte.
BATCH_SIZE = 1_000
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "mailer:bulk")  # the namespace of key-derived ids


@dataclass(frozen=True)
class BulkResult:
    """What one call queued and skipped; ``bulk_id`` is also each message's ``bulk_id`` option,
    so a dead letter shows which send it came from."""

    bulk_id: str
    queued: int
    rejected: int
    rejected_samples: list[Rejection] = field(default_factory=list)
    #: Rows whose address (any case, display name aside) came earlier in the list: skipped,
    #: so each person is mailed once and ``queued`` counts people.
    duplicates: int = 0


@maps_broker_errors
def send_bulk(
    template: str,
    recipients: Iterable[Recipient],
    context: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    priority: str = "low",
    from_email: str | None = None,
    headers: Mapping[str, str] | None = None,
    progress: Callable[[int], object] | None = None,
) -> BulkResult:
    """Queue one ``template`` email per recipient; returns what was queued and rejected.

    A recipient is an address, a mapping with an ``email`` field whose other fields are their
    own context, or an ``(address, context)`` pair; their context is merged over ``context``.
    Raises a ``ValidationError`` subclass before queueing anything if an argument other than
    ``recipients`` is wrong. ``progress(done)`` is called after each batch with the number of
    recipients read so far. See the module's docstring for ``key``.
    """
    plan = _plan(mailer_settings.current(), template, context, key, priority, from_email, headers)
    check_recipients(recipients)
    enqueue = enqueuer(dramatiq.get_broker())
    queued, rejections = 0, Rejections()
    try:
        for batch, done in _batches(plan, recipients, rejections):
            enqueue(batch)
            queued += len(batch)
            if progress is not None:
                progress(done)
    finally:
        enqueue.close()
    result = BulkResult(
        plan.bulk_id, queued, rejections.count, rejections.samples, rejections.duplicates
    )
    logger.info("Bulk %s of %s: %s.", plan.bulk_id, template, _counts(result))
    return result


def _counts(result: BulkResult) -> str:
    queued, duplicates, rejected = result.queued, result.duplicates, result.rejected
    return f"{queued} queued, {duplicates} duplicates skipped, {rejected} rejected"


@dataclass(frozen=True)
class _Plan:
    """What every message of the bulk shares, checked before the first one is built.

    ``parts`` is the message ``send_email`` would queue, encoded, less what differs per
    recipient; building a ``dramatiq.Message`` and an ``Email`` per recipient, and encoding
    the shared context each time, cost three times as much for the same bytes.
    """

    template: str
    templates: Templates
    declared: EmailType
    level: Priority
    context: dict[str, Any]
    needs: frozenset[str]  # template variables the shared context lacks
    parts: MessageParts
    key: str | None
    bulk_id: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex)  # redis ids unique per call
    # Hashes of the addresses queued so far: 100,000 of them hold about 5 MB.
    seen: set[int] = field(default_factory=set)

    def encode(self, person: object, position: int, now_ms: int) -> Encoded | None:
        """The recipient's message, None for an address already queued; a
        ``ValidationError`` if they cannot have one."""
        address, own = recipient(person)
        to = parse_address(address, "to")
        bare = addr_spec(to).lower()
        if hash(bare) in self.seen:
            return None
        context = self.context
        if own:
            context = {**self.context, **check_context(own)}
        if self.needs and not self.needs <= context.keys():
            self.templates.check(self.template, context)  # raises, naming what is missing
        keyed = self.key is not None
        message_id = uuid5(_IDS, f"{self.key}\n{bare}") if keyed else str(uuid.uuid4())
        redis_id = f"{self.run}-{position}"
        data = self.parts.message(to, context if own else None, message_id, redis_id, now_ms)
        self.seen.add(hash(bare))
        return Encoded(self.parts.queue_name, redis_id, data)


def _plan(
    settings: Settings,
    template: str,
    context: object,
    key: str | None,
    priority: str,
    from_email: str | None,
    headers: object,
) -> _Plan:
    from mailer.actors import emails

    checked_key = None if key is None else check_key(key, "key")
    templates = for_settings(settings)
    templates.required_variables(template)  # refuses a malformed or unknown name
    declared = emails.lookup(template)
    if not declared.transactional:
        require_links(settings, [template])
    level = parse_priority(priority)
    bulk_id = str(uuid.uuid4() if checked_key is None else uuid.uuid5(_IDS, checked_key))
    shared = check_context(context)
    envelope = Email(
        to=[],
        # Left empty when not given: the worker fills in its own MAILER_FROM.
        from_email="" if from_email is None else parse_address(from_email, "from_email"),
        headers=check_headers(headers),
        tags=[template],
    )
    return _Plan(
        template=template,
        templates=templates,
        declared=declared,
        level=level,
        context=shared,
        needs=frozenset(templates.required_variables(template) - shared.keys()),
        parts=MessageParts(email_message(declared, level, envelope, shared).asdict(), bulk_id),
        key=checked_key,
        bulk_id=bulk_id,
    )


def _batches(
    plan: _Plan, recipients: Iterable[object], rejections: Rejections
) -> Iterator[tuple[list[Encoded], int]]:
    """``(messages, recipients read so far)`` every ``BATCH_SIZE`` recipients, and at the end."""
    batch: list[Encoded] = []
    read = 0
    now_ms = int(time.time() * 1000)
    for read, person in enumerate(recipients, 1):
        try:
            encoded = plan.encode(person, read, now_ms)
        except ValidationError as err:
            rejections.add(read - 1, person, err)
        else:
            if encoded is None:
                rejections.duplicates += 1
            else:
                batch.append(encoded)
        if read % BATCH_SIZE == 0:
            yield batch, read
            batch = []
            now_ms = int(time.time() * 1000)
    if read % BATCH_SIZE:
        yield batch, read
