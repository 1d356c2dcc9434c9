"""``delivery_status`` and ``search_deliveries``: what happened to the emails sent, read from
the delivery log the worker writes (``mailer.stores.delivery_log``)."""

from __future__ import annotations

from datetime import datetime

from mailer import settings as mailer_settings
from mailer import stores
from mailer.api.redis_errors import maps_broker_errors
from mailer.argument_checks import check_aware
from mailer.errors import ValidationError
from mailer.stores.delivery_log import STATUSES, Delivery
from mailer.stores.delivery_search import Criteria, DeliveryPage

#: The most rows one page may ask for.
MAX_PAGE = 1000


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
    domain: str | None = None,
    status: str | None = None,
    template: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> DeliveryPage:
    """One page of logged deliveries matching every criterion given, newest first; the page
    iterates as its deliveries and says in ``total`` how many match in all.

    ``to``: the start of a recipient's address, any case (``user5`` finds ``user5@...`` and
    ``user50@...``; ``Ann <ann@example.com>`` its bare address), or ``@domain``; ``domain``
    a recipient's domain; ``status`` one of ``mailer.stores.delivery_log.STATUSES``;
    ``since``/``until`` timezone-aware datetimes; ``limit`` 1 to 1000 rows from ``offset``.
    """
    if status is not None and status not in STATUSES:
        raise ValidationError("status", f"must be one of {', '.join(STATUSES)}")
    if not (isinstance(limit, int) and 0 < limit <= MAX_PAGE):
        raise ValidationError("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    if not (isinstance(offset, int) and offset >= 0):
        raise ValidationError("offset", "must be a whole number, 0 or more")
    criteria = Criteria.matching(
        to,
        domain=None if domain is None else domain.strip().lstrip("@").lower(),
        status=status,
        template=template,
        since=None if since is None else check_aware(since, "since").timestamp(),
        until=None if until is None else check_aware(until, "until").timestamp(),
    )
    log = stores.for_settings(mailer_settings.current()).delivery_log
    return log.search_page(criteria, offset=offset, limit=limit)
