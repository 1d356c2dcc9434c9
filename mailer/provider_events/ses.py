"""Amazon SES's events, as a configuration set publishes them to SNS, made ``ProviderEvent``.

Event publishing names the kind in ``eventType``; the older identity notifications in
``notificationType``: both are read. ``mail.messageId`` is the id SES answered the send with,
and ``mail.tags`` carries mailer's own message id (the SES backend tags every send with it).
A permanent bounce or a complaint suppresses its recipients; a transient or undetermined
bounce is recorded as ``bounced`` but suppresses no one, as the address may work tomorrow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mailer.provider_events.events import (
    MESSAGE_ID_ARG,
    ProviderEvent,
    RefusedEvent,
    message_id_or_none,
    short,
)

PROVIDER = "ses"
Reading = tuple[str, tuple[str, ...], str | None, str]  # status, recipients, suppress, detail


def event(message: str, *, event_id: str, at: float) -> ProviderEvent | None:
    """The event an SNS ``Notification``'s ``Message`` holds; None for a kind mailer does not
    track (``Send``, ``Rendering Failure``, ``Subscription``)."""
    try:
        data: Any = json.loads(message)
    except ValueError:
        raise RefusedEvent("the SNS message is not an SES event") from None
    if not isinstance(data, dict) or not isinstance(data.get("mail"), dict):
        raise RefusedEvent("the SNS message is not an SES event")
    kind = data.get("eventType") or data.get("notificationType")
    read = _READERS.get(str(kind))
    if read is None:
        return None
    status, recipients, suppress, detail = read(data)
    mail = data["mail"]
    tags = mail.get("tags") if isinstance(mail.get("tags"), dict) else {}
    return ProviderEvent(
        provider=PROVIDER,
        event_id=event_id,
        status=status,
        at=at,
        message_id=message_id_or_none(_first(tags.get(MESSAGE_ID_ARG))),
        provider_id=str(mail.get("messageId") or "") or None,
        recipients=recipients or _destination(mail),
        # Only the recipients SES named bounced or complained are suppressed, never the rest.
        suppress=suppress if recipients else None,
        detail=detail,
    )


def _bounce(data: dict[str, Any]) -> Reading:
    bounce = _part(data, "bounce")
    kind = str(bounce.get("bounceType", ""))
    recipients = _addresses(bounce.get("bouncedRecipients"))
    diagnostic = next(
        (r.get("diagnosticCode") for r in bounce.get("bouncedRecipients") or [] if r), None
    )
    detail = short(f"{kind}/{bounce.get('bounceSubType', '')}: {diagnostic or ''}".rstrip(": "))
    return "bounced", recipients, "bounced" if kind == "Permanent" else None, detail


def _complaint(data: dict[str, Any]) -> Reading:
    complaint = _part(data, "complaint")
    detail = short(complaint.get("complaintFeedbackType") or "complaint")
    return "complained", _addresses(complaint.get("complainedRecipients")), "complained", detail


def _delivery(data: dict[str, Any]) -> Reading:
    delivery = _part(data, "delivery")
    recipients = tuple(str(a) for a in delivery.get("recipients") or [])
    return "delivered", recipients, None, ""


def _reject(data: dict[str, Any]) -> Reading:
    return "rejected", (), None, short(_part(data, "reject").get("reason"))


def _delay(data: dict[str, Any]) -> Reading:
    delay = _part(data, "deliveryDelay")
    recipients = _addresses(delay.get("delayedRecipients"))
    return "deferred", recipients, None, short(delay.get("delayType"))


def _open(data: dict[str, Any]) -> Reading:
    return "opened", (), None, ""


def _click(data: dict[str, Any]) -> Reading:
    return "clicked", (), None, short(_part(data, "click").get("link"))


_READERS: dict[str, Callable[[dict[str, Any]], Reading]] = {
    "Bounce": _bounce,
    "Complaint": _complaint,
    "Delivery": _delivery,
    "Reject": _reject,
    "DeliveryDelay": _delay,
    "Open": _open,
    "Click": _click,
}


def _first(values: object) -> object:
    """A tag's first value: SES sends each tag as a list of values."""
    return values[0] if isinstance(values, list) and values else None


def _part(data: dict[str, Any], name: str) -> dict[str, Any]:
    part = data.get(name)
    return part if isinstance(part, dict) else {}


def _addresses(recipients: object) -> tuple[str, ...]:
    if not isinstance(recipients, list):
        return ()
    return tuple(
        str(r["emailAddress"]) for r in recipients if isinstance(r, dict) and r.get("emailAddress")
    )


def _destination(mail: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(address) for address in mail.get("destination") or [])
