"""The dashboard's URL map: our pages by pattern, whole WSGI apps mounted under a prefix.

Mounted apps (``/queues``: dramatiq-dashboard, ``/metrics``) get the path below their
prefix in ``PATH_INFO`` and the prefix in ``SCRIPT_NAME``, as WSGI expects of a mount.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis

from mailer.web.http import Environ, Request, Response, StartResponse, WSGIApp, text
from mailer.web.pages import (
    Services,
    dead_letters,
    deliveries,
    events,
    message,
    overview,
    schedules,
    static,
    suppressions,
)

Handler = Callable[..., Response]

_ID = r"(?P<message_id>[A-Za-z0-9_-]{1,100})"
_EVENT_ID = r"(?P<event_id>[A-Za-z0-9_-]{1,100})"
_ACTION = r"(?P<action>requeue|delete)"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def _route(method: str, pattern: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern + r"/?\Z"), handler)


ROUTES = (
    _route("GET", "/", overview.overview),
    _route("GET", "/deliveries", deliveries.search),
    _route("GET", f"/deliveries/{_ID}", message.message),
    _route("GET", "/dead-letters", dead_letters.listing),
    _route("POST", f"/dead-letters/{_ACTION}", dead_letters.bulk),
    _route("POST", f"/dead-letters/{_ID}/{_ACTION}", dead_letters.single),
    # The operator's pages beyond the log (issue 14's dashboard).
    _route("GET", "/live", overview.live),
    _route("GET", "/static/(?P<name>[a-z_]+\\.js)", static.script),
    _route("GET", "/schedules", schedules.listing),
    _route("POST", "/schedules/cancel", schedules.cancel),
    _route("GET", "/suppressions", suppressions.listing),
    _route("POST", "/suppressions/add", suppressions.add),
    _route("POST", "/suppressions/remove", suppressions.remove),
    _route("GET", "/events", events.listing),
    _route("GET", f"/events/{_EVENT_ID}", events.detail),
)


class Router:
    def __init__(self, services: Services, mounts: dict[str, WSGIApp]) -> None:
        self.services = services
        self.mounts = mounts

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                return app(_mounted(environ, prefix), start_response)
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        allowed = []
        for route in ROUTES:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            if request.method == route.method or (request.method, route.method) == ("HEAD", "GET"):
                return _answer(route, request, self.services, match.groupdict())
            allowed.append(route.method)
        if allowed:
            refusal = text(405, "Method not allowed.\n")
            refusal.headers.append(("Allow", ", ".join(allowed)))
            return refusal
        return text(404, "Not found.\n")


def _answer(route: Route, request: Request, services: Services, args: dict[str, str]) -> Response:
    try:
        return route.handler(request, services, **args)
    except redis.RedisError as err:
        # An operator opening the dashboard during an outage learns that, not a bare 500.
        return text(503, f"Redis is unavailable: {type(err).__name__}. Try again shortly.\n")


def _mounted(environ: Environ, prefix: str) -> Environ:
    path = environ.get("PATH_INFO", "")
    script_name = environ.get("SCRIPT_NAME", "") + prefix
    # "/queues" is the mounted app's root, as "/queues/" is.
    return {**environ, "SCRIPT_NAME": script_name, "PATH_INFO": path[len(prefix) :] or "/"}
