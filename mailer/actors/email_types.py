"""The declared email types: what each is called, its priority and actor, and which of its
context keys an operator must never see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import dramatiq

from mailer.errors import UnknownTemplate, ValidationError
from mailer.masking import DEFAULT_SENSITIVE
from mailer.priorities import Priority


@dataclass(frozen=True)
class EmailType:
    name: str
    priority: Priority
    actor: dramatiq.Actor[..., None]
    transactional: bool
    #: Context keys whose values an operator never sees (``mailer.masking``).
    sensitive: tuple[str, ...] = DEFAULT_SENSITIVE


EMAIL_TYPES: dict[str, EmailType] = {}


def validated_sensitive(keys: Iterable[str]) -> tuple[str, ...]:
    if isinstance(keys, str) or not all(isinstance(k, str) and k for k in keys):
        raise ValidationError("sensitive", "must be a list of context key names")
    return tuple(keys)


def sensitive_keys(name: str) -> tuple[str, ...]:
    """The context keys to mask for type ``name``; the defaults for a type not declared here."""
    declared = EMAIL_TYPES.get(name)
    return DEFAULT_SENSITIVE if declared is None else declared.sensitive


def lookup(name: str) -> EmailType:
    try:
        return EMAIL_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(EMAIL_TYPES))
        raise UnknownTemplate("template", f"no email type {name!r}; known: {known}") from None
