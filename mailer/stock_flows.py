"""Ready subscribers for the three flows most apps start with, switched on by ``MAILER_FLOWS``.

``MAILER_FLOWS=user.registered,appointment.created,post.published`` (any of them) declares:

``user.registered`` — payload ``email`` (required), ``name``, ``user_id``, and any context
    the ``welcome`` template uses (``login_url`` ...): the welcome email to the user, and an
    in-app notification to the admins (``MAILER_ADMIN_USERS`` / ``_SOURCE``).
``appointment.created`` — ``appointment_id``, ``email``, ``name``, ``service``, ``starts_at``
    (ISO 8601 with a timezone), optional ``staff_user_ids`` and template context: the
    confirmation email, the reminder scheduled 24 hours before under the key
    ``appointment:<id>:reminder`` (reschedule or cancel it with that key), and a notification
    to the staff named, else to the admins.
``post.published`` — ``post_id``, ``title``, ``url``, optional ``excerpt`` and ``author``: an
    in-app notification to every user (``MAILER_USERS_SOURCE``) and the ``new_post``
    newsletter to every subscriber (``MAILER_NEWSLETTER_SOURCE``), at low priority.

Each step is its own subscriber, so a failing one is retried alone, and each passes the
event's id on as an idempotency key, so a retried step never sends twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from mailer import settings
from mailer.actors.events import subscribe
from mailer.api import bulk, inbox
from mailer.api.email import send_email
from mailer.api.schedules import schedule_email
from mailer.app_sources import load_source
from mailer.errors import ConfigurationError, InvalidPayload
from mailer.message import Event

REMINDER_BEFORE = timedelta(hours=24)
# Payload fields that address the email rather than fill its template.
_ENVELOPE_FIELDS = frozenset({"email", "user_id", "staff_user_ids", "appointment_id"})


def send_welcome_email(event: Event) -> None:
    """The welcome email to the new user."""
    send_email(
        "welcome",
        to=event.payload["email"],
        context=_context(event, name=_name(event.payload)),
        idempotency_key=f"event:{event.id}:welcome",
    )


def notify_admins_of_new_user(event: Event) -> None:
    """An in-app notification to the admins: who registered."""
    inbox.notify_admins(
        f"New user: {_name(event.payload)}",
        str(event.payload["email"]),
        kind="user.registered",
        data={"user_id": event.payload.get("user_id")},
        key=f"event:{event.id}:admins",
    )


def send_appointment_confirmation(event: Event) -> None:
    """The confirmation email to the customer."""
    send_email(
        "appointment_confirmation",
        to=event.payload["email"],
        context=_context(event),
        idempotency_key=f"event:{event.id}:confirmation",
    )


def schedule_appointment_reminder(event: Event) -> None:
    """The reminder, 24 hours before the appointment (skipped when that time has passed)."""
    at = _starts_at(event.payload) - REMINDER_BEFORE
    if at <= datetime.now(timezone.utc):
        return
    key = f"appointment:{event.payload['appointment_id']}:reminder"
    context = {k: v for k, v in _context(event).items() if k != "duration"}
    schedule_email(
        "appointment_reminder", to=event.payload["email"], context=context, at=at, key=key
    )


def notify_staff_of_appointment(event: Event) -> None:
    """An in-app notification to the staff named in the payload, else to the admins."""
    payload = event.payload
    title = f"New appointment: {payload['service']} with {payload['name']}"
    body = f"Starts {payload['starts_at']}"
    data = {"appointment_id": payload["appointment_id"]}
    staff = payload.get("staff_user_ids") or []
    for user_id in staff:
        key = f"event:{event.id}:staff:{user_id}"
        inbox.notify(user_id, title, body, kind="appointment.created", data=data, key=key)
    if not staff:
        inbox.notify_admins(
            title, body, kind="appointment.created", data=data, key=f"event:{event.id}:admins"
        )


def notify_users_of_post(event: Event) -> None:
    """An in-app notification to every user, in batches (``MAILER_USERS_SOURCE``)."""
    payload = event.payload
    inbox.broadcast(
        f"New post: {payload['title']}",
        str(payload.get("excerpt") or ""),
        url=str(payload["url"]),
        kind="post.published",
    )


def email_post_to_subscribers(event: Event) -> None:
    """The ``new_post`` newsletter to every subscriber (``MAILER_NEWSLETTER_SOURCE``)."""
    source = load_source("MAILER_NEWSLETTER_SOURCE", settings.current().newsletter_source)
    context = {"excerpt": "", **_context(event)}
    bulk.send_bulk("new_post", source(), context, key=f"post:{event.payload['post_id']}:newsletter")


def _name(payload: Mapping[str, Any]) -> str:
    return str(payload.get("name") or str(payload["email"]).partition("@")[0])


def _context(event: Event, **extra: Any) -> dict[str, Any]:
    context = {k: v for k, v in event.payload.items() if k not in _ENVELOPE_FIELDS}
    return {**context, **extra}


def _starts_at(payload: Mapping[str, Any]) -> datetime:
    try:
        starts_at = datetime.fromisoformat(str(payload["starts_at"]))
    except ValueError:
        raise InvalidPayload("starts_at", "must be an ISO 8601 date and time") from None
    if starts_at.utcoffset() is None:
        raise InvalidPayload("starts_at", "must carry a timezone, e.g. +00:00")
    return starts_at


#: A handler, the payload fields it requires and its check of the payload at ``publish``.
Step = tuple[Callable[[Event], None], tuple[str, ...], Callable[[Mapping[str, Any]], object] | None]

FLOWS: dict[str, tuple[Step, ...]] = {
    "user.registered": (
        (send_welcome_email, ("email",), None),
        (notify_admins_of_new_user, ("email",), None),
    ),
    "appointment.created": tuple(
        (step, ("appointment_id", "email", "name", "service", "starts_at"), _starts_at)
        for step in (
            send_appointment_confirmation,
            schedule_appointment_reminder,
            notify_staff_of_appointment,
        )
    ),
    "post.published": (
        (notify_users_of_post, ("post_id", "title", "url"), None),
        (email_post_to_subscribers, ("post_id", "title", "url"), None),
    ),
}


def switch_on(topics: tuple[str, ...]) -> None:
    for topic in topics:
        if topic not in FLOWS:
            raise ConfigurationError(
                "MAILER_FLOWS", f"no ready flow for {topic!r}; there are {', '.join(FLOWS)}"
            )
        for step, requires, validate in FLOWS[topic]:
            subscribe(topic, requires=requires, validate=validate)(step)


switch_on(settings.current().flows)
