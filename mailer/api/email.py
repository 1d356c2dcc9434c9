"""``send_email`` and ``schedule_email``: check everything in the caller's process, then enqueue;
``delivery_status`` and ``search_deliveries``: what happened next.

Every mistake a caller can make is raised here, typed and naming the argument, before
anything reaches Redis: a web request learns of a bad address at once instead of a worker
dead-lettering it minutes later. Rendering waits for the worker, so a request pays only for
the checks and one enqueue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import dramatiq

from mailer import settings as mailer_settings
from mailer import stores
from mailer.actors import emails
from mailer.addresses import parse_address, parse_addresses
from mailer.argument_checks import check_aware, check_json_object, check_key
from mailer.envelope import AttachmentLike, Email, check_attachments, check_headers
from mailer.errors import InvalidContext, ValidationError
from mailer.priorities import Priority, parse_priority
from mailer.stores import delivery_log as deliveries
from mailer.stores import keys as store
from mailer.stores.delivery_log import Delivery
from mailer.stores.idempotency_keys import IdempotencyKeys
from mailer.stores.schedules import ScheduledEmail, ScheduleStore
from mailer.templates import for_settings

Recipients = str | Sequence[str]

#: ``send_at`` up to this far ahead is a delayed Dramatiq message, sent to the millisecond;
#: later ones wait in the schedule store, where they survive anything and show in
#: ``mailer schedule list``, and go out within a minute of their time.
DELAY_HORIZON = timedelta(minutes=15)


def send_email(
    template: str,
    to: Recipients,
    context: Mapping[str, Any] | None = None,
    *,
    cc: Recipients | None = None,
    bcc: Recipients | None = None,
    reply_to: Recipients | None = None,
    from_email: str | None = None,
    headers: Mapping[str, str] | None = None,
    attachments: Sequence[AttachmentLike] | None = None,
    priority: str | None = None,
    send_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> str:
    """Queue the ``template`` email to ``to`` and return its message id.

    Raises a ``ValidationError`` subclass naming the argument at fault; nothing is queued
    then. ``priority`` overrides the email type's own level for this one message;
    ``send_at`` (timezone-aware) delays it. A second call with the same ``idempotency_key``
    within ``MAILER_IDEMPOTENCY_TTL`` queues nothing and returns the first call's message id.
    """
    message = _message(
        template, to, context, cc, bcc, reply_to, from_email, headers, attachments, priority
    )
    when = None if send_at is None else check_aware(send_at, "send_at")
    if idempotency_key is None:
        _enqueue(message, when)
        return str(message.message_id)
    key = check_key(idempotency_key, "idempotency_key")
    keys = IdempotencyKeys(store.client(), mailer_settings.current().idempotency_ttl_s)
    earlier = keys.claim(key, message.message_id)
    if earlier is not None:
        return earlier
    try:
        _enqueue(message, when)
    except BaseException:
        keys.release(key, message.message_id)
        raise
    return str(message.message_id)


def schedule_email(
    template: str,
    to: Recipients,
    context: Mapping[str, Any] | None = None,
    *,
    at: datetime,
    key: str,
    cc: Recipients | None = None,
    bcc: Recipients | None = None,
    reply_to: Recipients | None = None,
    from_email: str | None = None,
    headers: Mapping[str, str] | None = None,
    attachments: Sequence[AttachmentLike] | None = None,
    priority: str | None = None,
) -> str:
    """Keep the email in Redis under ``key`` until ``at``, then send it; returns its message id.

    Scheduling again under the same key replaces the entry (a rescheduled appointment moves
    its reminder); ``cancel_scheduled(key)`` removes it. The scheduler (``periodiq
    mailer.actors``) sends it within a minute of ``at``, once, however many schedulers run.
    """
    checked_key = check_key(key, "key")
    when = check_aware(at, "at")
    message = _message(
        template, to, context, cc, bcc, reply_to, from_email, headers, attachments, priority
    )
    ScheduleStore(store.client()).put(checked_key, when, message)
    return str(message.message_id)


def cancel_scheduled(key: str) -> bool:
    """Remove the scheduled email under ``key``; False if there was none (already sent, or
    never scheduled)."""
    return ScheduleStore(store.client()).cancel(check_key(key, "key"))


def scheduled_email(key: str) -> ScheduledEmail | None:
    """The email scheduled under ``key``, if it has not gone out yet."""
    return ScheduleStore(store.client()).get(check_key(key, "key"))


def delivery_status(message_id: str) -> Delivery | None:
    """What happened to the message: its status and every attempt, from the delivery log.

    None when the log has no such message (never sent, or older than the retention).
    """
    return stores.for_settings(mailer_settings.current()).delivery_log.get(message_id)


def search_deliveries(
    *,
    to: str | None = None,
    status: str | None = None,
    template: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[Delivery]:
    """Logged deliveries matching every criterion given, newest first.

    ``to`` is an address (display name and case do not matter); ``status`` one of
    ``mailer.stores.delivery_log.STATUSES``; ``since``/``until`` timezone-aware datetimes.
    """
    if status is not None and status not in deliveries.STATUSES:
        raise ValidationError("status", f"must be one of {', '.join(deliveries.STATUSES)}")
    if to is not None:
        to = parse_address(to, "to")
    return stores.for_settings(mailer_settings.current()).delivery_log.search(
        to=to,
        status=status,
        template=template,
        since=None if since is None else check_aware(since, "since").timestamp(),
        until=None if until is None else check_aware(until, "until").timestamp(),
        limit=limit,
    )


def _message(
    template: str,
    to: Recipients,
    context: Mapping[str, Any] | None,
    cc: Recipients | None,
    bcc: Recipients | None,
    reply_to: Recipients | None,
    from_email: str | None,
    headers: Mapping[str, str] | None,
    attachments: Sequence[AttachmentLike] | None,
    priority: str | None,
) -> dramatiq.Message[None]:
    """The checked message, ready to enqueue: every argument validated, nothing sent yet."""
    settings = mailer_settings.current()
    checked_context = check_context(context)
    for_settings(settings).check(template, checked_context)
    declared = emails.lookup(template)
    envelope = Email(
        to=parse_addresses(to, "to", required=True),
        cc=parse_addresses(cc, "cc"),
        bcc=parse_addresses(bcc, "bcc"),
        reply_to=parse_addresses(reply_to, "reply_to"),
        # Left empty when not given: the worker fills in its own MAILER_FROM.
        from_email="" if from_email is None else parse_address(from_email, "from_email"),
        headers=check_headers(headers),
        attachments=check_attachments(attachments, settings.max_attachments_bytes),
        tags=[template],
    )
    level = declared.priority if priority is None else parse_priority(priority)
    return email_message(declared, level, envelope, checked_context)


def email_message(
    declared: emails.EmailType, level: Priority, envelope: Email, context: dict[str, Any]
) -> dramatiq.Message[None]:
    """The message ``declared``'s actor takes, on ``level``'s queue: built here alone, so
    ``send_email`` and ``send_bulk`` queue the very same thing."""
    message = declared.actor.message(envelope.to_json(), context)
    if level != declared.priority:
        message = message.copy(queue_name=level.queue_name)
    return message


def _enqueue(message: dramatiq.Message[None], when: datetime | None) -> None:
    broker = dramatiq.get_broker()
    if when is None or when <= datetime.now(timezone.utc):
        broker.enqueue(message)
        return
    delay = when - datetime.now(timezone.utc)
    if delay <= DELAY_HORIZON:
        broker.enqueue(message, delay=int(delay.total_seconds() * 1000))
    else:
        ScheduleStore(store.client()).put(f"send_at:{message.message_id}", when, message)


def check_context(context: object) -> dict[str, Any]:
    """The caller's context as the worker will see it, refused unless a JSON-safe mapping."""
    return check_json_object(context, "context", InvalidContext)
