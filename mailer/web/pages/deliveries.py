"""``/deliveries``: search the delivery log; ``/deliveries/<id>``: one message, in full."""

from __future__ import annotations

import time

from mailer.stores.delivery_log import STATUSES
from mailer.web.http import Request, Response
from mailer.web.pages import Services
from mailer.web.render import page
from mailer.web.stored_messages import preview

#: Rows shown per search: a page an operator reads, not an export.
SEARCH_LIMIT = 100
#: Notices a redirect may ask a page to show, by key, so no text comes from the URL.
NOTICES = {
    "requeued": "Requeued: the message is back on its queue.",
    "deleted": "Deleted from the dead letters.",
    "gone": "The message was no longer in the dead letters.",
}


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


def message(request: Request, services: Services, message_id: str) -> Response:
    delivery = services.log.get(message_id)
    stored = services.finder.find(message_id, delivery.queue_name if delivery else None)
    if delivery is None and stored is None:
        return page(request, "not_found.html", status=404, message_id=message_id)
    return page(
        request,
        "message.html",
        message_id=message_id,
        delivery=delivery,
        stored=stored,
        preview=preview(services.templates, stored.message) if stored else None,
        notice=NOTICES.get(request.query.get("done", "")),
    )
