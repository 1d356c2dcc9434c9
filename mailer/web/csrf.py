"""Cross-site request forgery protection for the dashboard's actions.

Browsers resend Basic-auth credentials on any request to the site, a forged one included, so
authentication alone cannot tell the operator's click from another site's form. Two checks:

- every POST must carry the token of a random double-submit cookie (``HttpOnly``,
  ``SameSite=Strict``, so another site's request never has it), compared in constant time.
  A random cookie rather than a token derived from a server secret, so that any number of
  processes (``gunicorn -w 4``) accept each other's tokens without sharing a secret;
- any POST whose ``Sec-Fetch-Site`` or ``Origin`` says it came from elsewhere is refused,
  whatever its token, for every path, dramatiq-dashboard's too (its forms carry its own token).
  Chromium, Firefox and Safari send ``Sec-Fetch-Site``; ``Origin`` covers older browsers.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from mailer.web.http import Environ, Request, StartResponse, WSGIApp, text

COOKIE = "mailer_csrf"
FIELD = "csrf_token"
#: Where the page's token is left in the environ for forms to carry.
TOKEN_KEY = "mailer.web.app.csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN = re.compile(r"[0-9a-f]{64}")
# What a browser says of a request the page itself made; "none" is one the user typed.
_OWN_SITE = frozenset({"same-origin", "none"})


class CSRFGuard:
    """Wraps a WSGI app: refuses forged POSTs with 403, hands pages a token for their forms.

    Paths under ``own_token_prefixes`` (dramatiq-dashboard's) get only the origin check.
    """

    def __init__(self, app: WSGIApp, *, own_token_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.own_token_prefixes = own_token_prefixes

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        cookie = request.cookies.get(COOKIE, "")
        fresh = _TOKEN.fullmatch(cookie) is None
        token = secrets.token_hex(32) if fresh else cookie
        environ[TOKEN_KEY] = token
        refusal = None if request.method in _SAFE_METHODS else self._refusal(request, cookie)
        if fresh:
            start_response = _adding_header(start_response, _cookie(token, request.is_https))
        if refusal is not None:
            return text(403, refusal + "\n")(environ, start_response)
        return self.app(environ, start_response)

    def _refusal(self, request: Request, cookie: str) -> str | None:
        """Why the request must be refused, or None."""
        if cross_origin(request):
            return "Cross-origin request refused."
        if request.path.startswith(self.own_token_prefixes):
            return None
        given = request.form.get(FIELD, "")
        if not cookie or not hmac.compare_digest(given.encode(), cookie.encode()):
            return "Missing or invalid CSRF token: reload the page and try again."
        return None


def cross_origin(request: Request) -> bool:
    """Whether the browser says the request came from another origin.

    ``Sec-Fetch-Site`` decides when present: browsers set it and no page can. Otherwise a
    real ``Origin`` must be this host. An opaque one (``null``) proves nothing either way:
    under ``Referrer-Policy: no-referrer`` it is what the dashboard's own forms send, and a
    forged request carrying it still lacks the ``SameSite=Strict`` cookie's token.
    """
    site = request.header("Sec-Fetch-Site")
    if site is not None:
        return site.strip().lower() not in _OWN_SITE
    origin = (request.header("Origin") or "null").strip()
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() != _host(request).lower()


def _host(request: Request) -> str:
    host = request.header("Host")
    if host:
        return host.strip()
    name, port = request.environ.get("SERVER_NAME", ""), request.environ.get("SERVER_PORT", "")
    return f"{name}:{port}"


def _cookie(token: str, secure: bool) -> tuple[str, str]:
    attributes = "Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
    return "Set-Cookie", f"{COOKIE}={token}; {attributes}"


def _adding_header(start_response: StartResponse, header: tuple[str, str]) -> StartResponse:
    def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        return start_response(status, [*headers, header], *exc_info)

    return start
