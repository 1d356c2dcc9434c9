"""mailer: an application's transactional email and in-app notifications, sent in the
background on Dramatiq over Redis.

Usage::

    from mailer import send_email, publish, notify, send_bulk
    message_id = send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    schedule_email("appointment_reminder", to=..., context=..., at=..., key="booking:42:reminder")
    publish("user.registered", {"user_id": 42, "email": "ann@example.com", "name": "Ann"})
    notify(42, "Your export is ready", url="/exports/7")
    send_bulk("new_post", subscribers(), {"title": ..., "url": ..., "excerpt": ...})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mailer import errors
from mailer.envelope import Attachment, Email
from mailer.errors import *  # noqa: F403  (every error is part of the public API)

if TYPE_CHECKING:
    from mailer.actors.events import Event, subscribe
    from mailer.api.bulk import BulkResult, send_bulk
    from mailer.api.email import (
        cancel_scheduled,
        delivery_status,
        schedule_email,
        scheduled_email,
        search_deliveries,
        send_email,
    )
    from mailer.api.events import publish
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
    from mailer.stores.suppression import is_suppressed, suppress, unsuppress

# Imported on first use: these bring in the broker, which reads the settings, and
# ``import mailer.errors`` or the CLI should not need a configured environment.
_LAZY = {
    "mailer.api.email": (
        "cancel_scheduled",
        "delivery_status",
        "schedule_email",
        "scheduled_email",
        "search_deliveries",
        "send_email",
    ),
    "mailer.actors.events": ("Event", "subscribe"),
    "mailer.api.events": ("publish",),
    "mailer.api.bulk": ("BulkResult", "send_bulk"),
    "mailer.api.inbox": (
        "broadcast",
        "mark_all_read",
        "mark_read",
        "notification_token",
        "notifications",
        "notify",
        "notify_admins",
        "unread_count",
    ),
    "mailer.stores.suppression": ("is_suppressed", "suppress", "unsuppress"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'mailer' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
