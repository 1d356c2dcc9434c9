"""``GET /notifications/stream?token=...``: one user's notifications, live, as Server-Sent Events.

A page opens ``new EventSource(url)`` with a token from ``mailer.api.inbox.notification_token`` and
listens for ``notification`` events, each a frame ``id: <id>`` / ``event: notification`` /
``data: <json>``. The stream starts after the ``Last-Event-ID`` the browser sends when it
reconnects (else ``?last_event_id=``, else now), sends what was missed, then blocks on
``XREAD`` and writes each new notification as it lands.

A comment line every ``keepalive_s`` keeps the platform's router (which drops a connection idle
for 55 s) from cutting the stream, and finds out a closed client within that time. After
``lifetime_s`` the response ends so the server's threads recycle; the browser reconnects after
the ``retry`` hint, with its ``Last-Event-ID``, and nothing is lost.

Each open stream holds one server thread and one Redis connection of its own, for its blocking
read: size the server's threads (``mailer dashboard --threads``) for the streams expected at
once. Waitress 3 sends every write at once (its ``send_bytes`` is 1, and deprecated), so each
frame leaves as soon as it is yielded. The dashboard serves this endpoint outside its login.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator

import redis

from mailer.errors import InvalidNotification, InvalidToken
from mailer.settings import Settings
from mailer.signing import signer_for
from mailer.stores.inbox import (
    STREAM_TOKEN_PURPOSE,
    Notification,
    NotificationStore,
    check_notification_id,
)
from mailer.web.http import Environ, Request, Response, StartResponse, WSGIApp

STREAM_PATH = "/notifications/stream"
KEEPALIVE_S = 15.0
LIFETIME_S = 300.0
#: How long a browser waits before reconnecting, once a stream ends or breaks.
RETRY_MS = 2_000
_TEXT = "text/plain; charset=utf-8"
_HEADERS = [
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    # Tells a buffering proxy (nginx) to pass each frame on at once.
    ("X-Accel-Buffering", "no"),
]


def stream_app(
    settings: Settings, *, keepalive_s: float = KEEPALIVE_S, lifetime_s: float = LIFETIME_S
) -> WSGIApp:
    """The stream endpoint on ``settings``; ``ConfigurationError`` without a secret key."""
    signer = signer_for(settings, STREAM_TOKEN_PURPOSE)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        cors = cors_headers(settings, request.header("Origin"))
        refusal = _refusal(request, cors)
        if refusal is not None:
            return refusal(environ, start_response)
        try:
            user_id = signer.unsign(request.query.get("token", ""))
        except InvalidToken:  # said in general terms: the token is never echoed
            forbidden = Response(403, b"The stream's token is invalid or expired.\n", _TEXT, cors)
            return forbidden(environ, start_response)
        stream = _EventStream(settings, user_id, _last_event_id(request), keepalive_s, lifetime_s)
        start_response("200 OK", [*_HEADERS, *cors])
        return stream

    return app


class _EventStream:
    """The response body: frames as notifications land, for ``lifetime_s`` at most.

    The WSGI server calls ``close`` when the response ends, or when the client has gone and
    the next write fails: the stream's Redis connection closes with it.
    """

    def __init__(
        self,
        settings: Settings,
        user_id: str,
        last_id: str | None,
        keepalive_s: float,
        lifetime_s: float,
    ) -> None:
        # A blocked XREAD answers within keepalive_s: a socket silent for longer is dead.
        self.client = redis.Redis.from_url(settings.redis_url, socket_timeout=keepalive_s + 10)
        self.store = NotificationStore(self.client, per_user=settings.notifications_per_user)
        self.user_id = user_id
        self.keepalive_ms = max(1, int(keepalive_s * 1000))
        self.deadline = time.monotonic() + lifetime_s
        try:
            # "Now" is fixed before the response starts, so one landing meanwhile is not missed.
            self.last_id = self.store.last_id(user_id) if last_id is None else last_id
        except redis.RedisError:
            self.client.close()
            raise

    def __iter__(self) -> Iterator[bytes]:
        # An id without data sets the browser's Last-Event-ID and dispatches nothing: should
        # it reconnect before any notification arrives, it still resumes from here, not "now".
        yield f"retry: {RETRY_MS}\nid: {self.last_id}\n\n".encode()
        yield from self._frames(self.store.since(self.user_id, self.last_id))
        while (remaining_ms := int((self.deadline - time.monotonic()) * 1000)) > 0:
            timeout_ms = min(self.keepalive_ms, remaining_ms)
            arrived = self.store.wait(self.user_id, self.last_id, timeout_ms)
            if arrived:
                yield from self._frames(arrived)
            elif timeout_ms == self.keepalive_ms:
                yield b": keepalive\n\n"

    def _frames(self, notifications: list[Notification]) -> Iterator[bytes]:
        for notification in notifications:
            self.last_id = notification.id
            yield _frame(notification)

    def close(self) -> None:
        self.client.close()


def _frame(notification: Notification) -> bytes:
    data = json.dumps(notification.to_json(), separators=(",", ":"))  # one line: ASCII, escaped
    return f"id: {notification.id}\nevent: notification\ndata: {data}\n\n".encode()


def _refusal(request: Request, cors: list[tuple[str, str]]) -> Response | None:
    """The answer to anything but a ``GET`` of the stream: 404, 405, or a CORS preflight's."""
    if request.path != STREAM_PATH:
        return Response(404, b"Not found.\n", _TEXT)
    if request.method == "OPTIONS":  # a preflight, should a browser send one
        return Response(204, headers=[*cors, *_PREFLIGHT])
    if request.method != "GET":
        return Response(405, b"Method not allowed.\n", _TEXT, [("Allow", "GET, OPTIONS")])
    return None


def _last_event_id(request: Request) -> str | None:
    """Where to resume: the browser's ``Last-Event-ID``, else the query's; a mangled one is
    ignored (the stream starts now) rather than refused, which would stop the browser's
    reconnecting for good."""
    raw = request.header("Last-Event-ID") or request.query.get("last_event_id") or None
    if raw is None:
        return None
    try:
        return check_notification_id(raw.strip(), "Last-Event-ID")
    except InvalidNotification:
        return None


def cors_headers(settings: Settings, origin: str | None) -> list[tuple[str, str]]:
    """The page's origin echoed back only when allowed: another site's page gets no access."""
    vary = [("Vary", "Origin")]
    if origin is not None and origin in settings.cors_origins:
        return [("Access-Control-Allow-Origin", origin), *vary]
    return vary


_PREFLIGHT = [
    ("Access-Control-Allow-Methods", "GET"),
    ("Access-Control-Allow-Headers", "Last-Event-ID, Cache-Control"),
    ("Access-Control-Max-Age", "600"),
]
