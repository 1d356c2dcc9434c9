"""``/deliveries``: search the delivery log (``/deliveries/<id>`` is ``pages.message``)."""

from __future__ import annotations

import time

from mailer.stores.delivery_log import STATUSES
from mailer.web.http import Request, Response
from mailer.web.pages import Services
from mailer.web.render import page

#: Rows shown per search: a page an operator reads, not an export.
SEARCH_LIMIT = 100


def search(request: Request, services: Services) -> Response:
    criteria = {name: request.query.get(name, "").strip() for name in ("to", "status", "template")}
    hours = request.query.get("hours", "").strip()
    problem = _problem(criteria["status"], hours, services.settings.log_retention_s)
    found = []
    if problem is None:
        since = time.time() - int(hours) * 3600 if hours else None
        found = services.log.search(
            to=criteria["to"] or None,
            status=criteria["status"] or None,
            template=criteria["template"] or None,
            since=since,
            limit=SEARCH_LIMIT,
        )
    return page(
        request,
        "deliveries.html",
        status=400 if problem else 200,
        criteria=criteria,
        hours=hours,
        statuses=STATUSES,
        problem=problem,
        deliveries=found,
        limit=SEARCH_LIMIT,
    )


def _problem(status: str, hours: str, retention_s: int) -> str | None:
    """What is wrong with the search form, said the way the form's labels say it."""
    if status and status not in STATUSES:
        return f"Status must be one of {', '.join(STATUSES)}."
    if hours and not (hours.isdigit() and 0 < int(hours) <= retention_s // 3600):
        return f"Hours must be a whole number from 1 to {retention_s // 3600}."
    return None
