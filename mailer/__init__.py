"""mailer: an application's transactional email and in-app notifications, sent in the
background on Dramatiq over Redis.

Usage::

    from mailer import send_email, publish, notify, send_bulk
    message_id = send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    schedule_email("appointment_reminder", to=..., context=..., at=..., key="booking:42:reminder")
    publish("user.registered", {"user_id": 42, "email": "ann@example.com", "name": "Ann"})
    notify(42, "Your export is ready", url="/exports/7")
    send_bulk("new_post", subscribers(), {"title": ..., "url": ..., "excerpt": ...})

Importing the package reads no settings and connects to nothing: the broker and the actors
come with the first call that enqueues (``mailer.actors``).
"""

from __future__ import annotations

from mailer import errors
from mailer.api.bulk import BulkResult, send_bulk
from mailer.api.email import send_email
from mailer.api.events import publish, subscribe
from mailer.api.inbox import (
    broadcast,
    mark_all_read,
    mark_read,
    notification_token,
    notifications,
    notify,
    notify_admins,
    unread_count,
)
from mailer.api.log import delivery_status, search_deliveries
from mailer.api.schedules import cancel_scheduled, schedule_email, scheduled_email
from mailer.api.suppression import is_suppressed, suppress, unsuppress
from mailer.envelope import Attachment, Email
from mailer.errors import *  # noqa: F403  (every error is part of the public API)
from mailer.message import Event

__all__ = [
    "Attachment",
    "BulkResult",
    "Email",
    "Event",
    "broadcast",
    "cancel_scheduled",
    "delivery_status",
    "is_suppressed",
    "mark_all_read",
    "mark_read",
    "notification_token",
    "notifications",
    "notify",
    "notify_admins",
    "publish",
    "schedule_email",
    "scheduled_email",
    "search_deliveries",
    "send_bulk",
    "send_email",
    "subscribe",
    "suppress",
    "unread_count",
    "unsuppress",
    *errors.__all__,
]
