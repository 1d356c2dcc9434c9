"""``/deliveries``: search the delivery log (``/deliveries/<id>`` is ``pages.message``)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from mailer.stores.delivery_log import STATUSES
from mailer.stores.delivery_search import Criteria, DeliveryPage
from mailer.web.http import Request, Response
from mailer.web.pages import Services
from mailer.web.render import page

#: Rows a page shows: a page an operator reads; the next is a link away.
PAGE_ROWS = 50
#: The form's fields, kept in the pages' links.
FIELDS = ("to", "status", "template", "hours")


def search(request: Request, services: Services) -> Response:
    """The matching page, newest first, with the exact number found and links to the rest."""
    criteria = {name: request.query.get(name, "").strip() for name in FIELDS}
    number = request.query.get("page", "1").strip()
    problem = _problem(criteria["status"], criteria["hours"], services.settings.log_retention_s)
    if problem is None and not (number.isdigit() and int(number) >= 1):
        problem = "Page must be a whole number of at least 1."
    found = None
    if problem is None:
        hours = criteria["hours"]
        query = Criteria.matching(
            criteria["to"] or None,
            status=criteria["status"] or None,
            template=criteria["template"] or None,
            since=time.time() - int(hours) * 3600 if hours else None,
        )
        offset = (int(number) - 1) * PAGE_ROWS
        found = services.log.search_page(query, offset=offset, limit=PAGE_ROWS)
    return page(
        request,
        "deliveries.html",
        status=400 if problem else 200,
        criteria=criteria,
        statuses=STATUSES,
        problem=problem,
        found=found,
        pages=_pages(found, criteria),
    )


def _pages(found: DeliveryPage | None, criteria: dict[str, str]) -> dict[str, str]:
    """Links to the first, previous, next and last pages, as far as there are such."""
    if found is None:
        return {}
    kept = {name: value for name, value in criteria.items() if value}
    current = found.offset // PAGE_ROWS + 1
    last = max(1, -(-found.total // PAGE_ROWS))
    wanted = {"first": 1, "previous": current - 1, "next": current + 1, "last": last}
    return {
        name: "/deliveries?" + urlencode({**kept, "page": str(number)})
        for name, number in wanted.items()
        if 1 <= number <= last and number != current
    }


def _problem(status: str, hours: str, retention_s: int) -> str | None:
    """What is wrong with the search form, said the way the form's labels say it."""
    if status and status not in STATUSES:
        return f"Status must be one of {', '.join(STATUSES)}."
    if hours and not (hours.isdigit() and 0 < int(hours) <= retention_s // 3600):
        return f"Hours must be a whole number from 1 to {retention_s // 3600}."
    return None
