"""Signed tokens: a value the app hands out in a link or a URL and later gets back, unchanged.

An unsubscribe link and a notification-stream token both carry a value (an address, a user
id) that mailer must be able to trust when it comes back, without keeping a copy of every
token it issued. An HMAC-SHA256 over the value, under ``MAILER_SECRET_KEY`` and a *purpose*,
does that: a token made for one purpose never passes for another, and changing the secret
revokes every token at once. Tokens are URL-safe: base64url parts joined by dots.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from mailer.errors import ConfigurationError, InvalidToken
from mailer.settings import Settings


class Signer:
    def __init__(self, secret_key: str, purpose: str) -> None:
        self._key = secret_key.encode()
        self._purpose = purpose.encode()

    def sign(self, value: str, *, expires_at: int | None = None) -> str:
        """A token for ``value``, valid until ``expires_at`` (Unix seconds) or for good."""
        payload = f"{_encode(value.encode())}.{'' if expires_at is None else expires_at}"
        return f"{payload}.{self._signature(payload)}"

    def unsign(self, token: str, *, now: float | None = None) -> str:
        """The value ``token`` was made for; ``InvalidToken`` if forged, mangled or expired."""
        encoded, _, rest = token.partition(".")
        expiry, _, signature = rest.partition(".")
        payload = f"{encoded}.{expiry}"
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            raise InvalidToken("the token's signature does not match")
        if expiry and int(expiry) < (time.time() if now is None else now):
            raise InvalidToken("the token has expired")
        try:
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):  # only we sign, so this is our own bug
            raise InvalidToken("the token's value is not readable") from None

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, self._purpose + b"\0" + payload.encode(), hashlib.sha256)
        return _encode(digest.digest())


def signer_for(settings: Settings, purpose: str) -> Signer:
    """The signer for ``purpose`` under the configured key; a clear error when there is none."""
    if not settings.secret_key:
        raise ConfigurationError(
            "MAILER_SECRET_KEY", f"is required to sign {purpose} tokens (32+ random characters)"
        )
    return Signer(settings.secret_key, purpose)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
