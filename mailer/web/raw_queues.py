"""dramatiq-dashboard's raw view, mounted at ``/queues`` under mailer's own navigation.

Its pages are its own (a dark theme, no way back); each HTML page it serves gets mailer's
navigation bar put in right after ``<body>``, so an operator moves between the two as within
one dashboard. Anything else it serves (redirects, form posts) passes through untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mailer.web.http import Environ, StartResponse, WSGIApp
from mailer.web.render import navigation

_BODY = b"<body>"


def with_navigation(app: WSGIApp, prefix: str) -> WSGIApp:
    """``app`` (mounted at ``prefix``) with mailer's navigation on its HTML pages."""

    def wrapped(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return lambda data: None  # the legacy write(); dramatiq-dashboard returns its body

        chunks = app(environ, start)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        headers: list[tuple[str, str]] = captured["headers"]
        if _is_html(headers) and _BODY in body:
            nav = navigation(prefix).encode()
            body = body.replace(_BODY, _BODY + nav, 1)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers, *captured["exc_info"])
        return [body]

    return wrapped


def _is_html(headers: list[tuple[str, str]]) -> bool:
    return any(k.lower() == "content-type" and "text/html" in v for k, v in headers)
