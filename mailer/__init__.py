"""mailer: an application's transactional email, sent in the background on Dramatiq over Redis.

Usage::

    from mailer import send_email
    message_id = send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    schedule_email("appointment_reminder", to=..., context=..., at=..., key="booking:42:reminder")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailer import errors
from mailer.errors import *  # noqa: F403  (every error is part of the public API)
from mailer.message import Attachment, Email

if TYPE_CHECKING:
    from mailer.api import (
        cancel_scheduled,
        delivery_status,
        schedule_email,
        scheduled_email,
        search_deliveries,
        send_email,
    )

_API = (
    "cancel_scheduled",
    "delivery_status",
    "schedule_email",
    "scheduled_email",
    "search_deliveries",
    "send_email",
)

__all__ = [
    "Attachment",
    "Email",
    "cancel_scheduled",
    "delivery_status",
    "schedule_email",
    "scheduled_email",
    "search_deliveries",
    "send_email",
    *errors.__all__,
]


def __getattr__(name: str) -> Any:
    # Imported on first use: the API brings in the broker, which reads the settings, and
    # ``import mailer.errors`` or the CLI should not need a configured environment.
    if name in _API:
        from mailer import api

        return getattr(api, name)
    raise AttributeError(f"module 'mailer' has no attribute {name!r}")
