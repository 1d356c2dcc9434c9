"""``schedule_email``, ``cancel_scheduled``, ``scheduled_email``: an email kept in Redis under a
key of the caller's until its time.

The key is what the caller knows the email by (``booking:42:reminder``), so a rescheduled
appointment moves its reminder and a cancelled one removes it, without the caller keeping a
message id anywhere. The scheduler (``periodiq mailer.actors``) sends it within a minute of its
time, once, however many schedulers run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mailer import settings as mailer_settings
from mailer import stores
from mailer.api.email import Recipients, SendOptions, checked_message
from mailer.api.redis_errors import maps_broker_errors
from mailer.argument_checks import check_aware, check_key
from mailer.envelope import AttachmentLike
from mailer.stores.schedules import ScheduledEmail


@maps_broker_errors
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
    its reminder); ``cancel_scheduled(key)`` removes it.
    """
    settings = mailer_settings.current()
    checked_key = check_key(key, "key")
    when = check_aware(at, "at")
    options = SendOptions(cc, bcc, reply_to, from_email, headers, attachments, priority)
    message = checked_message(settings, template, to, context, options)
    stores.for_settings(settings).schedules.put(checked_key, when, message)
    return str(message.message_id)


@maps_broker_errors
def cancel_scheduled(key: str) -> bool:
    """Remove the scheduled email under ``key``; False if there was none (already sent, or
    never scheduled)."""
    checked_key = check_key(key, "key")
    return stores.for_settings(mailer_settings.current()).schedules.cancel(checked_key)


@maps_broker_errors
def scheduled_email(key: str) -> ScheduledEmail | None:
    """The email scheduled under ``key``, if it has not gone out yet."""
    checked_key = check_key(key, "key")
    return stores.for_settings(mailer_settings.current()).schedules.get(checked_key)
