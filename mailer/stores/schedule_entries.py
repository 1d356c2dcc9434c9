"""One schedule entry and its JSON in Redis: when it is due, what it sends, and the message.

An entry's JSON begins with its time and message id, its *identity*: the completing script
removes a fired entry only while the entry under its key still starts with that text, so a key
rescheduled since the claim stays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import dramatiq

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class ScheduledEmail:
    """One entry: when it is due, what it sends, and the message that will be enqueued."""

    key: str
    at: datetime  # aware, UTC
    message_id: str
    template: str
    to: list[str]
    queue_name: str
    message: dramatiq.Message[Any]


def due_ms(at: datetime) -> int:
    """Rounded up to the millisecond: an entry may fire a little late, never early."""
    return -((_EPOCH - at) // _ONE_MS)


def entry(key: str, at: datetime, message: dramatiq.Message[Any]) -> ScheduledEmail:
    template, to = _describe(message)
    return ScheduledEmail(
        key=key,
        at=at,
        message_id=str(message.message_id),
        template=template,
        to=to,
        queue_name=message.queue_name,
        message=message,
    )


def _describe(message: dramatiq.Message[Any]) -> tuple[str, list[str]]:
    """Template and recipients from an email message's envelope, for listings."""
    envelope = message.args[0] if message.args else None
    if not isinstance(envelope, Mapping):
        return message.actor_name, []
    tags = envelope.get("tags") or [message.actor_name]
    return str(tags[0]), [str(address) for address in envelope.get("to", [])]


def identity(scheduled: ScheduledEmail) -> str:
    """The start of the entry's JSON, ``{"at":"…","message_id":"…",``, which completing checks.

    JSON escapes every quote inside a string, so only an entry with this very time and message
    id starts with this text.
    """
    return _dumps({"at": scheduled.at.isoformat(), "message_id": scheduled.message_id})[:-1] + ","


def encode(scheduled: ScheduledEmail) -> str:
    """The entry as JSON; the time and message id come first, forming its ``identity``."""
    return _dumps(
        {
            "at": scheduled.at.isoformat(),
            "message_id": scheduled.message_id,
            "key": scheduled.key,
            "template": scheduled.template,
            "to": scheduled.to,
            "queue_name": scheduled.queue_name,
            "message": scheduled.message.encode().decode("utf-8"),
        }
    )


def decode(raw: bytes) -> ScheduledEmail:
    data = json.loads(raw)
    return ScheduledEmail(
        key=data["key"],
        at=datetime.fromisoformat(data["at"]),
        message_id=data["message_id"],
        template=data["template"],
        to=data["to"],
        queue_name=data["queue_name"],
        message=dramatiq.Message.decode(data["message"].encode("utf-8")),
    )


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))
