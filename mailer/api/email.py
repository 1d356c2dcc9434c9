"""``send_email``: check everything in the caller's process, then enqueue.

Every mistake a caller can make is raised here, typed and naming the argument, before
anything reaches Redis: a web request learns of a bad address at once instead of a worker
dead-lettering it minutes later. Rendering waits for the worker, so a request pays only for
the checks and one enqueue.

The actors (and with them the broker) are imported by the calls that need them, not here:
``import mailer`` reads no settings and opens no connection.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

import dramatiq

from mailer import settings as mailer_settings
from mailer import stores
from mailer.addresses import parse_address, parse_addresses
from mailer.api.redis_errors import maps_broker_errors
from mailer.argument_checks import check_aware, check_json_object, check_key
from mailer.envelope import AttachmentLike, Email, check_attachments, check_headers
from mailer.errors import InvalidContext
from mailer.priorities import Priority, parse_priority
from mailer.settings import Settings
from mailer.templates import Templates, for_settings
from mailer.worker.unsubscribe_links import require_links

if TYPE_CHECKING:
    from mailer.actors.emails import EmailType

Recipients = str | Sequence[str]

#: ``send_at`` up to this far ahead is a delayed Dramatiq message, sent to the millisecond;
#: later ones wait in the schedule store, where they survive anything and show in
#: ``mailer schedule list``, and go out within a minute of their time.
DELAY_HORIZON = timedelta(minutes=15)


@maps_broker_errors
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
    Raises ``BrokerUnavailable`` when Redis is down or loading.
    """
    settings = mailer_settings.current()
    options = SendOptions(cc, bcc, reply_to, from_email, headers, attachments, priority)
    if options == NO_OPTIONS:
        options = NO_OPTIONS  # the usual call: its envelope is built without the no-op checks
    message = checked_message(settings, template, to, context, options)
    when = None if send_at is None else check_aware(send_at, "send_at")
    if idempotency_key is None:
        _enqueue(settings, message, when)
        return str(message.message_id)
    return _enqueue_once(settings, check_key(idempotency_key, "idempotency_key"), message, when)


class SendOptions(NamedTuple):
    """What ``send_email`` and ``schedule_email`` take besides the template, recipients and
    context, as the caller gave it: checked by ``checked_message``. A named tuple: built on
    every call, a frozen dataclass cost a send a few microseconds more."""

    cc: Recipients | None = None
    bcc: Recipients | None = None
    reply_to: Recipients | None = None
    from_email: str | None = None
    headers: Mapping[str, str] | None = None
    attachments: Sequence[AttachmentLike] | None = None
    priority: str | None = None


#: None of the options given.
NO_OPTIONS = SendOptions()


def checked_message(
    settings: Settings,
    template: str,
    to: Recipients,
    context: Mapping[str, Any] | None,
    options: SendOptions,
) -> dramatiq.Message[None]:
    """The checked message, ready to enqueue: every argument validated, nothing sent yet."""
    checked_context = check_context(context)
    _templates(settings).check(template, checked_context)
    declared = _emails().lookup(template)
    if not declared.transactional:
        require_links(settings, [template])
    recipients = parse_addresses(to, "to", required=True)
    if options is NO_OPTIONS:
        plain: dramatiq.Message[None] = declared.actor.message(
            plain_envelope(recipients, template), checked_context
        )
        return plain
    from_email = options.from_email
    envelope = Email(
        to=recipients,
        cc=parse_addresses(options.cc, "cc"),
        bcc=parse_addresses(options.bcc, "bcc"),
        reply_to=parse_addresses(options.reply_to, "reply_to"),
        # Left empty when not given: the worker fills in its own MAILER_FROM.
        from_email="" if from_email is None else parse_address(from_email, "from_email"),
        headers=check_headers(options.headers),
        attachments=check_attachments(options.attachments, settings.max_attachments_bytes),
        tags=[template],
    )
    priority = options.priority
    level = declared.priority if priority is None else parse_priority(priority)
    return email_message(declared, level, envelope, checked_context)


def email_message(
    declared: EmailType, level: Priority, envelope: Email, context: dict[str, Any]
) -> dramatiq.Message[None]:
    """The message ``declared``'s actor takes, on ``level``'s queue: built here alone, so
    ``send_email`` and ``send_bulk`` queue the very same thing."""
    message = declared.actor.message(envelope.to_json(), context)
    if level is not declared.priority:  # one object per level (``LEVELS``)
        message = message.copy(queue_name=level.queue_name)
    return message


def plain_envelope(to: list[str], template: str) -> dict[str, Any]:
    """``Email(to=to, from_email="", tags=[template]).to_json()``, without building the
    ``Email``: what a call with no option but the recipients queues, each time a few
    microseconds cheaper. Its own empty lists and dicts, as ``to_json`` gives."""
    global _plain
    if _plain is None:
        _plain = Email(to=[], from_email="").to_json()
    return {
        **_plain,
        "to": to,
        "cc": [],
        "bcc": [],
        "reply_to": [],
        "headers": {},
        "attachments": [],
        "tags": [template],
        "metadata": {},
    }


_plain: dict[str, Any] | None = None


def _templates(settings: Settings) -> Templates:
    """The templates of a process's settings, looked up once per settings object (by
    identity: hashing the settings costs more than the lookup it would save)."""
    global _last_templates
    last = _last_templates  # one read: another thread may replace the pair meanwhile
    if last is None or last[0] is not settings:
        last = _last_templates = (settings, for_settings(settings))
    return last[1]


_last_templates: tuple[Settings, Templates] | None = None


@functools.cache
def _emails() -> ModuleType:
    """``mailer.actors.emails``, imported by the first call that needs it (importing it sets
    the broker up) and then kept: an import statement costs every call a module lookup."""
    from mailer.actors import emails

    return emails


def _enqueue_once(
    settings: Settings, key: str, message: dramatiq.Message[None], when: datetime | None
) -> str:
    """Enqueue unless ``key`` was claimed by an earlier call, whose message id is returned."""
    keys = stores.for_settings(settings).idempotency_keys
    earlier = keys.claim(key, message.message_id)
    if earlier is not None:
        return earlier
    try:
        _enqueue(settings, message, when)
    except BaseException:
        keys.release(key, message.message_id)
        raise
    return str(message.message_id)


def _enqueue(settings: Settings, message: dramatiq.Message[None], when: datetime | None) -> None:
    broker = dramatiq.get_broker()
    if when is None or when <= datetime.now(timezone.utc):
        broker.enqueue(message)
        return
    delay = when - datetime.now(timezone.utc)
    if delay <= DELAY_HORIZON:
        broker.enqueue(message, delay=int(delay.total_seconds() * 1000))
    else:
        schedules = stores.for_settings(settings).schedules
        schedules.put(f"send_at:{message.message_id}", when, message)


def check_context(context: object) -> dict[str, Any]:
    """The caller's context as the worker will see it, refused unless a JSON-safe mapping."""
    return check_json_object(context, "context", InvalidContext)
