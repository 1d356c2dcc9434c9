"""Checks of the arguments that name things in Redis or in time, shared by the call site and
the stores, so ``send_email``, ``schedule_email`` and ``mailer schedule`` refuse the same input
with the same typed error."""

from __future__ import annotations

from datetime import datetime

from mailer.errors import InvalidKey, InvalidSendTime

MAX_KEY_LENGTH = 200


def check_key(key: object, field: str) -> str:
    """A caller's key: printable text, 1 to 200 characters, so it is safe inside a Redis key."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidKey(field, "must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(field, f"must be at most {MAX_KEY_LENGTH} characters, not {len(key)}")
    if not key.isprintable():
        raise InvalidKey(field, "must be printable text, without control characters")
    return key


def check_aware(value: object, field: str) -> datetime:
    """A point in time: a ``datetime`` with a timezone, since a naive one means different
    instants on the web host, the worker and the scheduler."""
    if not isinstance(value, datetime):
        raise InvalidSendTime(field, f"expected a datetime, got {type(value).__name__}")
    if value.utcoffset() is None:
        raise InvalidSendTime(
            field, "must be timezone-aware, e.g. datetime(..., tzinfo=timezone.utc)"
        )
    return value
