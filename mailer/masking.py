"""Mask the values of sensitive context keys wherever an operator looks.

A password-reset or verification link is a credential: whoever reads it can take the account.
The delivery log and the dead letters keep a message's context as it was sent (a re-render
needs it), so every face that shows a context or a rendered email (``mailer log``,
``mailer dlq show``, the dashboard) passes it through ``mask_sensitive`` first. An email type
names its sensitive keys (``email_type(..., sensitive=(...))``); ``DEFAULT_SENSITIVE`` is what
a type that names none gets.

A rendered email is masked by rendering the masked context, so a link built from a sensitive
value (``{{ reset_url }}``, or a filter over it) shows the mask in place of the value and
nothing of the value survives in the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_SENSITIVE", "MASK", "mask_sensitive"]

#: The keys masked when an email type names none of its own.
DEFAULT_SENSITIVE: tuple[str, ...] = ("reset_url", "verify_url")
#: What a sensitive value shows as.
MASK = "[masked]"


def mask_sensitive(
    context: Mapping[str, Any], keys: Iterable[str] = DEFAULT_SENSITIVE
) -> dict[str, Any]:
    """A copy of ``context`` whose values under any of ``keys`` read ``MASK``, at any depth
    (a key inside a nested mapping or a list of mappings is masked too). ``context`` itself
    is left as it is."""
    sensitive = frozenset(keys)
    return {
        key: MASK if key in sensitive else _masked(value, sensitive)
        for key, value in context.items()
    }


def _masked(value: Any, sensitive: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return mask_sensitive(value, sensitive)
    if isinstance(value, list | tuple):
        return [_masked(item, sensitive) for item in value]
    return value
