"""DKIM signatures (RFC 6376) for mail sent over SMTP, made with dkimpy.

SES and SendGrid sign for their senders; a team's own SMTP relay usually does not, and major
mailbox providers refuse or spam-folder unsigned bulk mail. The signature is made over the
exact bytes smtplib writes (the message flattened, Bcc removed), so nothing changes them
after signing. Relaxed canonicalisation of header and body lets relays that refold a header or
trim trailing spaces keep it valid.

The headers signed are those a forger would most like to change, plus the one-click
unsubscribe pair and the MIME headers that say how to read the body. A header listed but
absent is signed as absent, so nobody can add it on the way.
"""

from __future__ import annotations

from pathlib import Path

from mailer.errors import ConfigurationError
from mailer.settings import Settings

SIGNED_HEADERS = (
    b"From",
    b"Sender",
    b"Reply-To",
    b"To",
    b"Cc",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"In-Reply-To",
    b"References",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"MIME-Version",
    b"Content-Type",
    b"Content-Transfer-Encoding",
)
_CANONICALIZE = (b"relaxed", b"relaxed")
_PROBE = b"From: probe@example.com\r\nSubject: probe\r\n\r\nprobe\r\n"


class Signer:
    """Signs messages for ``domain`` under ``selector`` with one private key (PEM)."""

    def __init__(self, selector: str, domain: str, private_key: bytes) -> None:
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("ascii")
        self._key = private_key

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer | None:
        """The signer ``MAILER_DKIM_*`` describe, checked by signing a probe; None if unset.

        A key that cannot be read or cannot sign raises ``ConfigurationError`` in one line,
        naming the variable, never quoting the key."""
        if not (settings.dkim_selector and settings.dkim_domain):
            return None
        variable, key = _key(settings)
        try:
            signer = cls(settings.dkim_selector, settings.dkim_domain, key)
            signer.sign(_PROBE)
        except ConfigurationError:
            raise
        except Exception as err:  # dkimpy raises several kinds for a key it cannot use
            raise ConfigurationError(
                variable,
                f"is not a usable DKIM private key ({type(err).__name__}): "
                "give an RSA (PKCS#1 or PKCS#8) or Ed25519 key in PEM",
            ) from None
        return signer

    def sign(self, message: bytes) -> bytes:
        """``message`` with its ``DKIM-Signature`` header in front."""
        try:
            import dkim
        except ModuleNotFoundError as err:
            raise ConfigurationError(
                "MAILER_DKIM_SELECTOR", "DKIM signing needs dkimpy: pip install 'mailer[dkim]'"
            ) from err
        signature: bytes = dkim.sign(
            message,
            self.selector,
            self.domain,
            self._key,
            canonicalize=_CANONICALIZE,
            include_headers=list(SIGNED_HEADERS),
            linesep=b"\r\n",
        )
        return signature + message


def _key(settings: Settings) -> tuple[str, bytes]:
    """The variable that gave the key, and the key's bytes."""
    if settings.dkim_private_key_path is not None:
        path: Path = settings.dkim_private_key_path
        try:
            return "MAILER_DKIM_PRIVATE_KEY_FILE", path.read_bytes()
        except OSError as err:
            raise ConfigurationError(
                "MAILER_DKIM_PRIVATE_KEY_FILE", f"cannot be read: {err.strerror}"
            ) from None
    text = settings.dkim_private_key or ""
    # A platform's config field may hold the PEM on one line, its newlines written as \n.
    return "MAILER_DKIM_PRIVATE_KEY", text.replace("\\n", "\n").encode("ascii", "replace")
