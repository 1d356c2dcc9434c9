"""``suppress``, ``unsuppress``, ``is_suppressed``: the suppression list by hand.

Every address is checked first (``InvalidAddress``), so a bad call changes nothing; the list
itself, and why the worker consults it, is ``mailer.stores.suppression``.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailer import settings as mailer_settings
from mailer import stores
from mailer.addresses import parse_address
from mailer.api.redis_errors import maps_broker_errors
from mailer.errors import ValidationError
from mailer.stores.suppression import REASONS, SuppressionList


@maps_broker_errors
def suppress(addresses: str | Iterable[str], reason: str = "manual") -> int:
    """Put ``addresses`` on the suppression list; returns how many were new on it.

    ``reason`` must be one of ``mailer.stores.suppression.REASONS``.
    """
    if reason not in REASONS:
        raise ValidationError("reason", f"must be one of {', '.join(REASONS)}")
    return _suppression().add(_checked(addresses), reason)


@maps_broker_errors
def unsuppress(addresses: str | Iterable[str]) -> int:
    """Take ``addresses`` off the list (they asked to hear from us again); returns how many."""
    return _suppression().remove(_checked(addresses))


@maps_broker_errors
def is_suppressed(address: str) -> bool:
    return bool(_suppression().suppressed([parse_address(address, "address")]))


def _suppression() -> SuppressionList:
    return stores.for_settings(mailer_settings.current()).suppression


def _checked(addresses: str | Iterable[str]) -> list[str]:
    items = [addresses] if isinstance(addresses, str) else list(addresses)
    return [parse_address(address, "addresses") for address in items]
