"""``/events``: the latest published events and what each subscriber made of them;
``/events/<id>``: one event, its payload (sensitive values masked) and its subscribers."""

from __future__ import annotations

from mailer.stores.event_log import EventLog
from mailer.web.http import Request, Response
from mailer.web.pages import Services
from mailer.web.render import page

LIST_LIMIT = 100


def listing(request: Request, services: Services) -> Response:
    topic = request.query.get("topic", "").strip()
    found = _log(services).recent(LIST_LIMIT, topic=topic or None)
    return page(request, "events.html", topic=topic, events=found, limit=LIST_LIMIT)


def detail(request: Request, services: Services, event_id: str) -> Response:
    record = _log(services).get(event_id)
    if record is None:
        return page(request, "event.html", status=404, event_id=event_id, event=None)
    return page(request, "event.html", event_id=event_id, event=record)


def _log(services: Services) -> EventLog:
    return EventLog(services.stores.client)
