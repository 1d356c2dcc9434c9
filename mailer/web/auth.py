"""HTTP Basic authentication for the dashboard: one operator account from the settings.

The dashboard shows recipients and email contents and can replay or delete messages, so every
page but the platform's health check sits behind it. Both the user and the password are
compared in constant time, and both always are, so timing tells nothing about which was
wrong. Neither the password nor the header carrying it is ever logged or echoed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable

from mailer.web.http import Environ, Request, StartResponse, WSGIApp, text

REALM = "mailer"
#: The Basic-auth user, set in the environ once the request is authenticated.
USER_KEY = "mailer.web.app.user"


class BasicAuth:
    """Wraps a WSGI app; a request without the right credentials gets 401 and a challenge."""

    def __init__(self, app: WSGIApp, user: str, password: str) -> None:
        self.app = app
        self._user = user.encode()
        self._password = password.encode()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        user = self.authenticated_user(Request(environ))
        if user is None:
            challenge = text(401, "Authentication required.\n")
            challenge.headers.append(("WWW-Authenticate", f'Basic realm="{REALM}"'))
            return challenge(environ, start_response)
        environ[USER_KEY] = user
        return self.app(environ, start_response)

    def authenticated_user(self, request: Request) -> str | None:
        given = _credentials(request.header("Authorization"))
        if given is None:
            return None
        user, password = given
        # `&`, not `and`: both comparisons run whatever the first one found.
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password)
        return user.decode() if user_ok & password_ok else None


def _credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """``(user, password)`` from ``Basic base64(user:password)``, as bytes; None if malformed."""
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None
