"""``send_email``: check everything in the caller's process, then enqueue one message.

Every mistake a caller can make is raised here, typed and naming the argument, before
anything reaches Redis: a web request learns of a bad address at once instead of a worker
dead-lettering it minutes later. Rendering waits for the worker, so a request pays only for
the checks and one enqueue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mailer import settings as mailer_settings
from mailer.actors import emails
from mailer.addresses import parse_address, parse_addresses
from mailer.errors import FeatureNotAvailable, InvalidContext
from mailer.message import AttachmentLike, Email, check_attachments, check_headers
from mailer.priorities import parse_priority
from mailer.templates import for_settings

Recipients = str | Sequence[str]


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
    then. ``priority`` overrides the email type's own level for this one message.
    """
    if send_at is not None:
        raise FeatureNotAvailable("send_at: scheduled sends are not available in this version")
    if idempotency_key is not None:
        raise FeatureNotAvailable(
            "idempotency_key: idempotent sends are not available in this version"
        )
    settings = mailer_settings.current()
    context = _check_context(context)
    for_settings(settings).check(template, context)
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
    message = declared.actor.message(envelope.to_json(), context)
    if level != declared.priority:
        message = message.copy(queue_name=level.queue_name)
    declared.actor.broker.enqueue(message)
    return str(message.message_id)


def _check_context(context: object) -> dict[str, Any]:
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise InvalidContext("context", f"expected a mapping, got {type(context).__name__}")
    try:
        json.dumps(context, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidContext("context", f"must be JSON-serialisable: {err}") from None
    return dict(context)
