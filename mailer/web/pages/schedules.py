"""``/schedules``: the durable schedule, soonest first, filtered; cancel one entry.

Entries are found by key prefix (the caller's own scheme, e.g. ``reminder:appointment-42``,
read from the schedule's lexical index) and then by email type or recipient among those.
"""

from __future__ import annotations

from mailer.addresses import addr_spec
from mailer.stores.schedules import ScheduledEmail
from mailer.web.http import Request, Response, redirect
from mailer.web.pages import Services
from mailer.web.render import page

#: Entries shown; a filter by type or recipient looks at this many times more.
LIST_LIMIT = 100
_SCAN_FACTOR = 10
NOTICES = {
    "cancelled": "Cancelled: it will not be sent.",
    "gone": "There was no scheduled email under that key any more (sent or cancelled).",
}


def listing(request: Request, services: Services) -> Response:
    filters = {name: request.query.get(name, "").strip() for name in ("key", "template", "to")}
    narrowed = bool(filters["template"] or filters["to"])
    entries = services.stores.schedules.list(
        limit=LIST_LIMIT * (_SCAN_FACTOR if narrowed else 1) + 1, prefix=filters["key"]
    )
    shown = [entry for entry in entries if _matches(entry, filters["template"], filters["to"])]
    done = request.query.get("done", "")
    return page(
        request,
        "schedules.html",
        filters=filters,
        entries=shown[:LIST_LIMIT],
        more=len(shown) > LIST_LIMIT
        or len(entries) > LIST_LIMIT * (_SCAN_FACTOR if narrowed else 1),
        total=services.stores.schedules.count(),
        notice=NOTICES.get(done),
        key=request.query.get("cancelled_key", ""),
    )


def cancel(request: Request, services: Services) -> Response:
    key = request.form.get("key", "")
    removed = bool(key) and services.stores.schedules.cancel(key)
    return redirect(
        "/schedules", {"done": "cancelled" if removed else "gone", "cancelled_key": key}
    )


def _matches(entry: ScheduledEmail, template: str, to: str) -> bool:
    if template and entry.template != template:
        return False
    if not to:
        return True
    wanted = to.lower()
    return any(addr_spec(address).lower().startswith(wanted) for address in entry.to)
