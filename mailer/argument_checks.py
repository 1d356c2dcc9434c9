"""Checks of the arguments that name things in Redis or in time, shared by the call site and
the stores, so ``send_email``, ``schedule_email`` and ``mailer schedule`` refuse the same input
with the same typed error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from math import isfinite
from typing import Any

from mailer.errors import InvalidKey, InvalidSendTime, InvalidUserId, ValidationError

MAX_KEY_LENGTH = 200
MAX_USER_ID_LENGTH = 128


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


def check_user_id(user_id: object, field: str = "user_id") -> str:
    """An application's user id, as text: an int or a string of 1 to 128 printable characters
    without spaces, so it fits in a Redis key and a signed token unchanged."""
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        return str(user_id)
    if not isinstance(user_id, str) or not user_id:
        raise InvalidUserId(field, "must be a non-empty string or an int")
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise InvalidUserId(field, f"must be at most {MAX_USER_ID_LENGTH} characters")
    if not user_id.isprintable() or any(c.isspace() for c in user_id):
        raise InvalidUserId(field, "must be printable text without spaces")
    return user_id


def check_json_object(
    value: object,
    field: str,
    error: type[ValidationError],
    *,
    max_chars: int | None = None,
) -> dict[str, Any]:
    """A mapping as every reader of its JSON will see it (keys as text, tuples as lists);
    ``error`` names ``field`` if it is not a mapping, not JSON, or longer than ``max_chars``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise error(field, f"expected a mapping, got {type(value).__name__}")
    if max_chars is None:
        plain_copy = _plain_json(value, _MAX_DEPTH)
        if plain_copy is not _NOT_PLAIN:
            return dict(plain_copy)
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise error(field, f"must be JSON-serialisable: {err}") from None
    if max_chars is not None and len(encoded) > max_chars:
        raise error(field, f"is {len(encoded)} characters as JSON, over {max_chars}")
    plain: dict[str, Any] = json.loads(encoded)
    return plain


#: How deep ``_plain_json`` follows nesting before leaving a value to the JSON round trip.
_MAX_DEPTH = 16
_SCALARS = (str, int, bool, type(None))
_NOT_PLAIN = object()


def _plain_json(value: Any, depth: int) -> Any:
    """A copy of ``value`` if it is plain JSON already: dicts with ``str`` keys, lists,
    ``str``, ``int``, ``bool``, ``None`` and finite floats, those exact types only, so the
    copy is exactly what a JSON round trip would give. Anything else (a tuple, a subclass, a
    key to convert, a cycle) gives ``_NOT_PLAIN``, and the round trip decides; this costs a
    call a fraction of it."""
    if depth < 0:
        return _NOT_PLAIN
    kind = type(value)
    if kind in _SCALARS or (kind is float and isfinite(value)):
        return value
    if kind is dict:
        copy = {}
        for key, item in value.items():
            plain = _plain_json(item, depth - 1) if type(key) is str else _NOT_PLAIN
            if plain is _NOT_PLAIN:
                return _NOT_PLAIN
            copy[key] = plain
        return copy
    if kind is list:
        items = [_plain_json(item, depth - 1) for item in value]
        return _NOT_PLAIN if any(item is _NOT_PLAIN for item in items) else items
    return _NOT_PLAIN
