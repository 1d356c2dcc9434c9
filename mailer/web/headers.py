"""The security headers every dashboard response carries, dramatiq-dashboard's pages included.

The pages show what senders and recipients wrote (addresses, errors, whole emails), so the
policy assumes some of it is hostile and leaves nothing for it to run or reach:

- no script runs but mailer's own files (``/static/live.js``, the overview's refresh, which
  fetches only from the dashboard itself): none inline, none from elsewhere, and none in an
  email's sandboxed preview. Styles only inline (ours and dramatiq-dashboard's live in the
  page, emails' in style attributes), images only as ``data:`` URLs, and nothing is loaded
  from anywhere else, so an email shown for inspection cannot fire a tracking pixel or load
  a remote stylesheet;
- the email preview is an ``<iframe sandbox srcdoc=...>``: a srcdoc document inherits this
  policy and has no response of its own, so it needs no ``frame-src`` source, and the
  dashboard's own pages can be framed by no one (``frame-ancestors 'none'``, ``DENY``);
- forms post only back to the dashboard, links leak no URL in ``Referer``, and nothing is
  cached, since the pages hold personal data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mailer.web.http import Environ, StartResponse, WSGIApp

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "frame-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
_NAMES = frozenset(name.lower() for name, _ in SECURITY_HEADERS)


def with_security_headers(app: WSGIApp) -> WSGIApp:
    """``app`` with the headers above on every response, replacing any it set itself."""

    def secured(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            kept = [(name, value) for name, value in headers if name.lower() not in _NAMES]
            return start_response(status, [*kept, *SECURITY_HEADERS], *exc_info)

        return app(environ, start)

    return secured
