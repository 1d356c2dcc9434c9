"""``delivery_status`` and ``search_deliveries``: what happened to the emails sent, read from
the delivery log the worker writes (``mailer.stores.delivery_log``)."""

from __future__ import annotations

from datetime import datetime

from mailer import settings as mailer_settings
from mailer import stores
from mailer.addresses import parse_address
from mailer.api.redis_errors import maps_broker_errors
from mailer.argument_checks import check_aware
from mailer.errors import ValidationError
from mailer.stores.delivery_log import STATUSES, Delivery


@maps_broker_errors
def delivery_status(message_id: str) -> Delivery | None:
    """What happened to the message: its status and every attempt, from the delivery log.

    None when the log has no such message (never sent, or older than the retention).
    """
    return stores.for_settings(mailer_settings.current()).delivery_log.get(message_id)


@maps_broker_errors
def search_deliveries(
    *,
    to: str | None = None,
    status: str | None = None,
    template: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[Delivery]:
    """Logged deliveries matching every criterion given, newest first.

    ``to`` is an address (display name and case do not matter); ``status`` one of
    ``mailer.stores.delivery_log.STATUSES``; ``since``/``until`` timezone-aware datetimes.
    """
    if status is not None and status not in STATUSES:
        raise ValidationError("status", f"must be one of {', '.join(STATUSES)}")
    if to is not None:
        to = parse_address(to, "to")
    return stores.for_settings(mailer_settings.current()).delivery_log.search(
        to=to,
        status=status,
        template=template,
        since=None if since is None else check_aware(since, "since").timestamp(),
        until=None if until is None else check_aware(until, "until").timestamp(),
        limit=limit,
    )
