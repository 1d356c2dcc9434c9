"""DKIM signatures on mail a real worker sends over SMTP, checked by dkimpy's own verifier.

The public key is served from a DNS answer the test supplies (dkimpy's ``dnsfunc``), as the
TXT record ``<selector>._domainkey.<domain>`` that docs/deliverability.md says to publish.
"""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailer import send_email
from tests.support.smtp_server import SMTPSink
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

SELECTOR, DOMAIN = "mail2026", "example.com"
SENDER = "Shop <shop@example.com>"


def rsa_key() -> tuple[bytes, bytes]:
    """A private key (PEM) and the TXT record that publishes its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)
    return private_pem, record


def dns_answering(record: bytes):  # type: ignore[no-untyped-def]
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        expected = f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return record if name in (expected, expected.rstrip(b".")) else None

    return dnsfunc


def signed_headers(raw: bytes) -> list[str]:
    signature = raw.split(b"DKIM-Signature:", 1)[1].split(b"\r\n\r\n", 1)[0]
    tags = dict(
        part.strip().split("=", 1)
        for part in signature.decode().replace("\r\n", "").split(";")
        if "=" in part
    )
    return [name.strip().lower() for name in tags["h"].split(":")]


def test_a_worker_signs_what_it_sends_and_the_signature_verifies(
    smtp_sink: SMTPSink, start_worker, tmp_path: Path
) -> None:
    private_pem, record = rsa_key()
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(private_pem)
    worker = start_worker(
        {
            **smtp_sink.env(),
            "MAILER_FROM": SENDER,
            "MAILER_DKIM_SELECTOR": SELECTOR,
            "MAILER_DKIM_DOMAIN": DOMAIN,
            "MAILER_DKIM_PRIVATE_KEY_FILE": str(key_file),
            "MAILER_PUBLIC_URL": "https://app.example.com",
            "MAILER_SECRET_KEY": "k" * 40,
        }
    )
    send_email("welcome", "Ann <ann@example.org>", {"name": "Ann", "app_name": "Acme"})
    send_email(
        "new_post",
        "bo@example.org",
        {"title": "Spring news", "url": "https://x.test/1", "excerpt": "What is new."},
    )
    received = smtp_sink.wait_for(2)

    for message in received:
        assert message.raw.startswith(b"DKIM-Signature:"), worker.log()
        assert dkim.verify(message.raw, dnsfunc=dns_answering(record))
        headers = signed_headers(message.raw)
        for name in ("from", "to", "subject", "date", "message-id", "mime-version"):
            assert name in headers
    news = next(m for m in received if m.message["List-Unsubscribe"])
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(signed_headers(news.raw))

    # Changed on the way, or checked against another key, it no longer verifies.
    tampered = received[0].raw.replace(b"Subject: ", b"Subject: Re: ", 1)
    assert not dkim.verify(tampered, dnsfunc=dns_answering(record))
    assert not dkim.verify(received[0].raw, dnsfunc=dns_answering(rsa_key()[1]))


def test_a_key_that_cannot_sign_refuses_the_workers_start_in_one_line(
    smtp_sink: SMTPSink,
) -> None:
    secret_looking = "-----BEGIN PRIVATE KEY-----\\nbm90IGEga2V5\\n-----END PRIVATE KEY-----"
    worker = WorkerProcess(
        {
            **smtp_sink.env(),
            "MAILER_FROM": SENDER,
            "MAILER_DKIM_SELECTOR": SELECTOR,
            "MAILER_DKIM_DOMAIN": DOMAIN,
            "MAILER_DKIM_PRIVATE_KEY": secret_looking,
        }
    )
    worker.process.wait(timeout=30)
    worker.stop()
    lines = [line for line in worker.output if "MAILER_DKIM_PRIVATE_KEY" in line]
    assert lines == [lines[0]], worker.log()
    assert lines[0].startswith("mailer: MAILER_DKIM_PRIVATE_KEY: is not a usable DKIM private key")
    assert "Traceback" not in worker.log()
    assert "bm90IGEga2V5" not in worker.log()
    assert "is ready for action" not in worker.log()
