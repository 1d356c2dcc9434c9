"""SendGrid's Event Webhook: signed batches of events, made ``ProviderEvent``.

With "Signed Event Webhook" on, SendGrid signs the timestamp header's text followed by the raw
body with ECDSA (P-256, SHA-256); the signature is base64 DER in
``X-Twilio-Email-Event-Webhook-Signature``, the timestamp in ``...-Timestamp``. The public key
SendGrid shows is base64 DER (SubjectPublicKeyInfo); PEM is accepted too.

``sg_message_id`` begins with the ``X-Message-Id`` SendGrid answered the send with; mailer's own
message id comes back as a custom argument (the SendGrid backend sets it on every send).
A ``bounce`` suppresses its address; a ``blocked`` one (SendGrid's soft bounce) does not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailer.provider_events.events import (
    MESSAGE_ID_ARG,
    ProviderEvent,
    RefusedEvent,
    message_id_or_none,
    short,
)

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
_STATUSES = {
    "delivered": "delivered",
    "deferred": "deferred",
    "bounce": "bounced",
    "dropped": "rejected",
    "spamreport": "complained",
    "open": "opened",
    "click": "clicked",
}


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The key as SendGrid shows it (base64 DER) or as PEM; ``ValueError`` if it is neither."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError) as err:
        raise ValueError(f"is not a public key: {type(err).__name__}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("is not an elliptic-curve (ECDSA) public key")
    return key


class SendGridVerifier:
    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        self.public_key = public_key

    def verify(self, body: bytes, signature: str, timestamp: str) -> None:
        """``RefusedEvent`` (401) unless SendGrid signed ``timestamp`` + ``body``."""
        if not signature or not timestamp:
            raise RefusedEvent(f"unsigned: no {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}", status=401)
        try:
            der = base64.b64decode(signature, validate=True)
            self.public_key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, InvalidSignature):
            raise RefusedEvent("the signature does not match", status=401) from None


def events(body: bytes) -> Iterator[ProviderEvent]:
    """The tracked events of a verified batch; ``processed``, ``unsubscribe`` and the like are
    skipped."""
    try:
        batch: Any = json.loads(body)
    except ValueError:
        raise RefusedEvent("the body is not JSON") from None
    if not isinstance(batch, list):
        raise RefusedEvent("the body is not a list of SendGrid events")
    for item in batch:
        if isinstance(item, dict) and item.get("event") in _STATUSES:
            yield _event(item)


def _event(item: dict[str, Any]) -> ProviderEvent:
    kind = item["event"]
    address = str(item.get("email") or "")
    hard_bounce = kind == "bounce" and item.get("type", "bounce") != "blocked"
    suppress = "bounced" if hard_bounce else "complained" if kind == "spamreport" else None
    return ProviderEvent(
        provider=PROVIDER,
        event_id=str(item.get("sg_event_id") or _digest(item)),
        status=_STATUSES[kind],
        at=_epoch_s(item.get("timestamp")),
        message_id=message_id_or_none(item.get(MESSAGE_ID_ARG)),
        provider_id=str(item.get("sg_message_id") or "").split(".", 1)[0] or None,
        recipients=(address,) if address else (),
        suppress=suppress if address else None,
        detail=short(item.get("reason") or item.get("response") or item.get("url") or ""),
    )


def _epoch_s(value: object) -> float:
    """SendGrid's ``timestamp`` (epoch seconds), or now when it is missing or not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return time.time()


def _digest(item: dict[str, Any]) -> str:
    """An id for an event without ``sg_event_id`` (SendGrid's test events): its content."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]
