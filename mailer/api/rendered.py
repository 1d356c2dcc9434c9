"""Emails an app rendered itself (a Django ``EmailMessage``): checked at the call site as
``send_email`` checks its own, then queued for the worker, which sends them as they are.

They take every step of a send but the template's: the rate limit, retries and dead letters,
failover, receipts and the delivery log (as the type ``django.message``). The actor is
imported by the calls, not here, so importing this module builds no broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dramatiq

from mailer import settings as mailer_settings
from mailer.addresses import parse_address, parse_addresses
from mailer.api.email import email_message
from mailer.api.redis_errors import maps_broker_errors
from mailer.envelope import Email, check_attachments, check_headers
from mailer.errors import ValidationError
from mailer.priorities import parse_priority
from mailer.stores.batch_enqueue import enqueue_all

#: The longest subject taken; a provider refuses far shorter ones than what a header allows.
MAX_SUBJECT_CHARS = 998


def rendered_message(email: Email, *, priority: str | None = None) -> dramatiq.Message[None]:
    """The message that sends ``email`` as it is: every part checked, nothing queued yet.

    Raises a ``ValidationError`` naming the field at fault, as ``send_email`` does.
    """
    from mailer.actors.emails import django_message

    settings = mailer_settings.current()
    checked = Email(
        to=parse_addresses(email.to, "to", required=True),
        cc=parse_addresses(email.cc, "cc"),
        bcc=parse_addresses(email.bcc, "bcc"),
        reply_to=parse_addresses(email.reply_to, "reply_to"),
        from_email="" if not email.from_email else parse_address(email.from_email, "from_email"),
        subject=_subject(email.subject),
        text=_part(email.text, "body"),
        html=None if email.html is None else _part(email.html, "html"),
        headers=check_headers(email.headers),
        attachments=check_attachments(email.attachments, settings.max_attachments_bytes),
        tags=[django_message.name],
    )
    level = django_message.priority if priority is None else parse_priority(priority)
    return email_message(django_message, level, checked, {})


@maps_broker_errors
def enqueue_rendered(messages: Sequence[dramatiq.Message[Any]]) -> list[str]:
    """Queue ``messages`` in one transaction (all or none); their message ids."""
    enqueue_all(dramatiq.get_broker(), messages)
    return [str(message.message_id) for message in messages]


def _subject(subject: object) -> str:
    """One line, as a rendered subject is: CR, LF and runs of space become one space."""
    text = _part(subject, "subject")
    if len(text) > MAX_SUBJECT_CHARS:
        raise ValidationError("subject", f"is {len(text)} characters, over {MAX_SUBJECT_CHARS}")
    return " ".join(text.split())


def _part(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be text, not {type(value).__name__}")
    return value
