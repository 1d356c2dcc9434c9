"""Just enough HTTP for the dashboard's pages on bare WSGI: a request, a response, types.

The dashboard has a handful of pages and forms, so it stands on the standard library rather
than a web framework; form bodies are read up to a bound, since every form here is small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: The largest form body read; the dashboard's forms are a few short fields.
MAX_FORM_BYTES = 16 * 1024
_FORM_KEY = "mailer.web.app.form"

STATUS_TEXT = {
    200: "OK",
    302: "Found",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Request:
    """A read-only view of one WSGI environ."""

    def __init__(self, environ: Environ) -> None:
        self.environ = environ
        self.method: str = environ.get("REQUEST_METHOD", "GET").upper()
        self.path: str = environ.get("PATH_INFO", "") or "/"

    def header(self, name: str) -> str | None:
        """A request header by its HTTP name, e.g. ``Sec-Fetch-Site``."""
        value = self.environ.get("HTTP_" + name.upper().replace("-", "_"))
        return None if value is None else str(value)

    @cached_property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.environ.get("QUERY_STRING", ""), keep_blank_values=True))

    @cached_property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.header("Cookie") or "")
        except CookieError:  # a malformed Cookie header: as if there were none
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    @property
    def form(self) -> dict[str, str]:
        """The url-encoded body, read once per request however many ``Request``s look at it
        (the CSRF check, then the page); empty when missing, too large or of another type."""
        if _FORM_KEY not in self.environ:
            self.environ[_FORM_KEY] = self._read_form()
        form: dict[str, str] = self.environ[_FORM_KEY]
        return form

    def _read_form(self) -> dict[str, str]:
        content_type = self.environ.get("CONTENT_TYPE", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return {}
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return {}
        if not 0 < length <= MAX_FORM_BYTES:
            return {}
        body = self.environ["wsgi.input"].read(length).decode("utf-8", errors="replace")
        return dict(parse_qsl(body, keep_blank_values=True))

    @property
    def is_https(self) -> bool:
        """Behind the platform's router the scheme arrives as ``X-Forwarded-Proto``."""
        forwarded = (self.header("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
        return self.environ.get("wsgi.url_scheme") == "https" or forwarded == "https"


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        headers = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            *self.headers,
        ]
        start_response(f"{self.status} {STATUS_TEXT.get(self.status, '')}".rstrip(), headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [self.body]


def text(status: int, message: str) -> Response:
    return Response(status, message.encode(), "text/plain; charset=utf-8")


def redirect(path: str, params: Mapping[str, str] | None = None) -> Response:
    """303, so the browser follows a form's POST with a GET of the result."""
    location = quote(path, safe="/-_.~") + (f"?{urlencode(params)}" if params else "")
    return Response(303, headers=[("Location", location)])
