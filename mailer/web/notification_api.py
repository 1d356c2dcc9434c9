"""The JSON endpoints beside the stream: a user's notifications, read and marked from a page.

::

    GET  /notifications?limit=20&before=<cursor>   a page, newest first, and the unread count
    GET  /notifications/unread-count               {"unread": 3}
    POST /notifications/<id>/read                  {"marked": true, "unread": 2}
    POST /notifications/read-all                   {"marked": 2, "unread": 0}

The credential is the token the app mints for the stream (``notification_token(user_id)``),
sent as ``Authorization: Bearer <token>`` (or ``?token=``, as the stream takes it): it names
the one user whose notifications these calls read and change. No cookie is involved, so
another site's page can neither read nor mark anything without a token, and pages on the
origins in ``MAILER_CORS_ORIGINS`` may call these endpoints as they open the stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import redis

from mailer.api.inbox import MAX_PAGE
from mailer.errors import InvalidNotification, InvalidToken
from mailer.settings import Settings
from mailer.signing import signer_for
from mailer.stores import redis_client
from mailer.stores.inbox import STREAM_TOKEN_PURPOSE, NotificationStore, check_notification_id
from mailer.web.http import Environ, Request, Response, StartResponse, WSGIApp
from mailer.web.notification_stream import cors_headers

PREFIX = "/notifications"
DEFAULT_LIMIT = 20
_JSON = "application/json"
_MARK_ONE = re.compile(r"/notifications/(?P<id>[^/]+)/read\Z")
_PREFLIGHT = [
    ("Access-Control-Allow-Methods", "GET, POST"),
    ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
    ("Access-Control-Max-Age", "600"),
]


def handles(path: str) -> bool:
    """Whether ``path`` is one of these endpoints (the stream has its own)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def api_app(settings: Settings) -> WSGIApp:
    """The endpoints on ``settings``; ``ConfigurationError`` without a secret key."""
    signer = signer_for(settings, STREAM_TOKEN_PURPOSE)
    store = NotificationStore(
        redis_client(settings.redis_url), per_user=settings.notifications_per_user
    )

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        cors = cors_headers(settings, request.header("Origin"))
        if request.method == "OPTIONS":
            return Response(204, headers=[*cors, *_PREFLIGHT])(environ, start_response)
        try:
            user_id = signer.unsign(_token(request))
        except InvalidToken:  # said in general terms: the token is never echoed
            refused = _json(401, {"error": "the token is missing, invalid or expired"}, cors)
            refused.headers.append(("WWW-Authenticate", "Bearer"))
            return refused(environ, start_response)
        return _answer(request, store, user_id, cors)(environ, start_response)

    return app


def _token(request: Request) -> str:
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query.get("token", "")


def _answer(
    request: Request, store: NotificationStore, user_id: str, cors: list[tuple[str, str]]
) -> Response:
    path, method = request.path.rstrip("/") or "/", request.method
    try:
        if path == PREFIX and method in ("GET", "HEAD"):
            return _json(200, _page(request, store, user_id), cors)
        if path == f"{PREFIX}/unread-count" and method in ("GET", "HEAD"):
            return _json(200, {"unread": store.unread_count(user_id)}, cors)
        if path == f"{PREFIX}/read-all" and method == "POST":
            return _json(200, {"marked": store.mark_all_read(user_id), "unread": 0}, cors)
        match = _MARK_ONE.match(path)
        if match is not None and method == "POST":
            notification_id = check_notification_id(match["id"], "id")
            marked = store.mark_read(user_id, notification_id)
            return _json(200, {"marked": marked, "unread": store.unread_count(user_id)}, cors)
    except InvalidNotification as err:
        return _json(400, {"error": str(err)}, cors)
    except redis.RedisError as err:
        return _json(503, {"error": f"Redis is unavailable: {type(err).__name__}"}, cors)
    return _not_routed(path, method, cors)


def _page(request: Request, store: NotificationStore, user_id: str) -> dict[str, Any]:
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        raise InvalidNotification("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    before = request.query.get("before") or None
    cursor = None if before is None else check_notification_id(before, "before")
    page = store.page(user_id, limit=int(raw_limit), before=cursor)
    return {
        "items": [notification.to_json() for notification in page.items],
        "next_cursor": page.next_cursor,
        "unread": store.unread_count(user_id),
    }


def _not_routed(path: str, method: str, cors: list[tuple[str, str]]) -> Response:
    known = {PREFIX: "GET", f"{PREFIX}/unread-count": "GET", f"{PREFIX}/read-all": "POST"}
    allowed = known.get(path) or ("POST" if _MARK_ONE.match(path) else None)
    if allowed is None:
        return _json(404, {"error": "not found"}, cors)
    refusal = _json(405, {"error": f"{method} is not allowed here"}, cors)
    refusal.headers.append(("Allow", f"{allowed}, OPTIONS"))
    return refusal


def _json(status: int, body: dict[str, Any], headers: list[tuple[str, str]]) -> Response:
    return Response(status, json.dumps(body).encode(), _JSON, list(headers))
