"""Providers' signatures made by the tests: SNS's (an RSA key and a certificate served over
local HTTP) and SendGrid's (an ECDSA P-256 key), and the events they sign.

``SNSSigner`` signs envelopes as SNS does; its ``CertificateServer`` serves the certificate and
records every GET of a subscription's confirmation URL, and the web process is told to trust it
through ``MAILER_SNS_TRUSTED_URL``. ``SendGridSigner`` signs a body as the Event Webhook does.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dramatiq
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from mailer.provider_events.sns import string_to_sign
from mailer.stores.delivery_log import Attempt, DeliveryLog

TOPIC = "arn:aws:sns:us-east-1:123456789012:mailer-events"


class CertificateServer:
    """Serves ``/cert.pem``; records the paths of other GETs (subscription confirmations)."""

    def __init__(self, certificate_pem: bytes) -> None:
        self.confirmations: list[str] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = certificate_pem if self.path == "/cert.pem" else b"<ConfirmSubscription/>"
                if self.path != "/cert.pem":
                    served.confirmations.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Quiet: a request line per fetch would bury the test's own output."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SNSSigner:
    """An RSA key and a self-signed certificate, as SNS signs with."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.certificate_pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        self.cert_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"

    def sign(self, envelope: dict[str, str], version: str = "2") -> dict[str, str]:
        signed = {**envelope, "SignatureVersion": version, "SigningCertURL": self.cert_url}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        text = string_to_sign(signed, signed["Type"])
        signature = self.key.sign(text, padding.PKCS1v15(), algorithm)
        return {**signed, "Signature": base64.b64encode(signature).decode()}

    def notification(self, event: dict[str, Any], *, at: float | None = None) -> dict[str, str]:
        return {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC,
            "Message": json.dumps(event),
            "Timestamp": _iso(time.time() if at is None else at),
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        }

    def confirmation(self, subscribe_url: str) -> dict[str, str]:
        return {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": "2336412f37f",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": subscribe_url,
            "Timestamp": _iso(time.time()),
        }


def ses_event(
    kind: str, ses_id: str, to: str, *, message_id: str | None = None, **part: Any
) -> dict[str, Any]:
    """An SES event as a configuration set publishes it: ``kind`` is ``Bounce``, ``Open``..."""
    mail: dict[str, Any] = {
        "timestamp": _iso(time.time()),
        "messageId": ses_id,
        "source": "shop@example.com",
        "destination": [to],
        "tags": {"ses:configuration-set": ["mailer"]},
    }
    if message_id is not None:
        mail["tags"]["mailer_message_id"] = [message_id]
    field = kind[0].lower() + kind[1:]
    return {"eventType": kind, "mail": mail, field: part}


class SendGridSigner:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_key(self) -> str:
        """As SendGrid shows it: base64 of the DER SubjectPublicKeyInfo."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: float | None = None) -> dict[str, str]:
        stamp = str(int(time.time() if timestamp is None else timestamp))
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }


def sendgrid_event(event: str, to: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": to,
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        **fields,
    }


def sent_record(
    client: redis.Redis,
    backend: str = "sendgrid",
    provider_id: str = "sg-1",
    to: str = "ann@example.com",
) -> str:
    """A delivery-log record as a worker leaves it once the provider accepted the message."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name="mailer.normal",
        actor_name="send_welcome",
        args=({"to": [to]}, {}),
        kwargs={},
        options={},
    )
    log = DeliveryLog(client)
    log.sending(message)
    attempt = Attempt(time.time(), "sent", backend, provider_id=provider_id)
    log.settled(message.message_id, "welcome", "sent", attempt)
    return message.message_id


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.fixture(scope="session")
def sns_signer() -> SNSSigner:
    return SNSSigner()


@pytest.fixture
def certificate_server(sns_signer: SNSSigner) -> Iterator[CertificateServer]:
    server = CertificateServer(sns_signer.certificate_pem)
    sns_signer.cert_url = f"{server.url}/cert.pem"
    try:
        yield server
    finally:
        sns_signer.cert_url = (
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"
        )
        server.stop()
