"""Amazon SNS's HTTPS deliveries: the envelope's signature, checked against SNS's certificate.

SNS signs a canonical text of the envelope's fields (``Key\\nValue\\n`` for each signed key, in
order) with RSA over SHA-1 (``SignatureVersion`` 1) or SHA-256 (2). The certificate is fetched
from ``SigningCertURL``, but only from ``https://sns.<region>.amazonaws.com/`` (or ``.com.cn``),
so a forger cannot point at a certificate of their own; ``trusted_url_prefix`` adds one more
place to trust, for tests and AWS-compatible stacks. ``SubscribeURL`` is held to the same rule
before mailer fetches it to confirm a subscription.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mailer.provider_events.events import RefusedEvent

Fetch = Callable[[str], bytes]
SNS_HOST = re.compile(r"\Asns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\Z")
_SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_KEYS["UnsubscribeConfirmation"] = _SIGNED_KEYS["SubscriptionConfirmation"]
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_FETCH_TIMEOUT_S = 10.0
_MAX_CERTIFICATE_BYTES = 64 * 1024
_CACHED_CERTIFICATES = 16


def fetch(url: str) -> bytes:
    """GET ``url`` (already checked against the trusted places), at most 64 KiB of it."""
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_S) as answer:
        return bytes(answer.read(_MAX_CERTIFICATE_BYTES))


class SNSVerifier:
    """Checks SNS envelopes; certificates are kept per URL, as SNS rotates them seldom."""

    def __init__(
        self,
        *,
        trusted_url_prefix: str | None = None,
        topic_arns: tuple[str, ...] = (),
        fetch: Fetch = fetch,
    ) -> None:
        self.trusted_url_prefix = trusted_url_prefix
        self.topic_arns = topic_arns
        self.fetch = fetch
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def envelope(self, body: bytes) -> dict[str, str]:
        """The envelope of a request's body, its signature checked; ``RefusedEvent`` if not."""
        envelope = _parse(body)
        kind = envelope.get("Type", "")
        if kind not in _SIGNED_KEYS:
            raise RefusedEvent(f"not an SNS message type: {kind[:40]!r}")
        if self.topic_arns and envelope.get("TopicArn") not in self.topic_arns:
            raise RefusedEvent("the topic is not one of MAILER_SNS_TOPIC_ARNS", status=403)
        self._check_signature(envelope, kind)
        return envelope

    def trusted(self, url: str) -> bool:
        """Whether ``url`` is SNS's own (https, ``sns.<region>.amazonaws.com``) or trusted."""
        prefix = (self.trusted_url_prefix or "").rstrip("/")
        if prefix and url.startswith(prefix + "/"):
            return True
        parts = urlsplit(url)
        return parts.scheme == "https" and bool(SNS_HOST.match(parts.hostname or ""))

    def _check_signature(self, envelope: dict[str, str], kind: str) -> None:
        hash_for = _HASHES.get(envelope.get("SignatureVersion", ""))
        if hash_for is None:
            raise RefusedEvent("unsigned, or an unknown SignatureVersion", status=401)
        try:
            signature = base64.b64decode(envelope.get("Signature", ""), validate=True)
        except binascii.Error:
            raise RefusedEvent("the signature is not base64", status=401) from None
        key = self._key(envelope.get("SigningCertURL", ""))
        try:
            key.verify(signature, string_to_sign(envelope, kind), padding.PKCS1v15(), hash_for())
        except InvalidSignature:
            raise RefusedEvent("the signature does not match", status=401) from None

    def _key(self, url: str) -> rsa.RSAPublicKey:
        if not self.trusted(url):
            raise RefusedEvent("SigningCertURL is not an SNS certificate URL", status=401)
        with self._lock:
            key = self._keys.get(url)
        if key is None:
            key = _public_key(self.fetch_certificate(url))
            with self._lock:
                if len(self._keys) >= _CACHED_CERTIFICATES:
                    self._keys.clear()
                self._keys[url] = key
        return key

    def fetch_certificate(self, url: str) -> x509.Certificate:
        try:
            certificate = x509.load_pem_x509_certificate(self.fetch(url))
        except (OSError, ValueError) as err:
            raise RefusedEvent(
                f"the signing certificate could not be read: {type(err).__name__}", status=401
            ) from None
        now = datetime.now(timezone.utc)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise RefusedEvent("the signing certificate has expired", status=401)
        return certificate


def string_to_sign(envelope: dict[str, str], kind: str) -> bytes:
    """What SNS signed: each signed key present, then its value, one per line."""
    lines = []
    for key in _SIGNED_KEYS[kind]:
        if key in envelope:
            lines += [key, envelope[key]]
    return ("\n".join(lines) + "\n").encode()


def timestamp_s(envelope: dict[str, str]) -> float:
    """The envelope's ``Timestamp`` (``2026-01-01T00:00:00.000Z``) as epoch seconds."""
    try:
        when = datetime.fromisoformat(envelope["Timestamp"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise RefusedEvent("no valid Timestamp") from None
    return when.replace(tzinfo=when.tzinfo or timezone.utc).timestamp()


def _parse(body: bytes) -> dict[str, str]:
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise RefusedEvent("the body is not JSON") from None
    if not isinstance(data, dict):
        raise RefusedEvent("the body is not an SNS message")
    # Every signed field is text; MessageAttributes, when present, is not signed.
    return {key: value for key, value in data.items() if isinstance(value, str)}


def _public_key(certificate: x509.Certificate) -> rsa.RSAPublicKey:
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise RefusedEvent("the signing certificate's key is not RSA", status=401)
    return key
