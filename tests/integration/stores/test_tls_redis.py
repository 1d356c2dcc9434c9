"""Redis over TLS (``rediss://``) for the broker and every store, against a real redis-server
started with TLS and a certificate the test makes, not one the system trusts: as Heroku
Redis's self-signed certificate is, to a client."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mailer.embedded_redis import die_with_parent, free_port, is_reachable, redis_executable
from mailer.stores.delivery_log import DeliveryLog
from tests.support.certificates import Certificate, make_certificate
from tests.support.commands import mailer
from tests.support.smtp_server import SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

WELCOME = '{"name": "Ann", "app_name": "Acme"}'
SENDER = "Shop <shop@example.com>"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server that speaks TLS only; its ``rediss://`` URL."""
    certificate: Certificate = make_certificate(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [
            redis_executable(),
            *("--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"),
            *("--tls-cert-file", str(certificate.cert_path)),
            *("--tls-key-file", str(certificate.key_path)),
            *("--tls-ca-cert-file", str(certificate.ca_path)),
            *("--tls-auth-clients", "no", "--save", "", "--dir", str(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    url = f"rediss://127.0.0.1:{port}/0"
    try:
        assert wait_until(lambda: is_reachable(url + "?ssl_cert_reqs=none"), 10)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_rediss_with_a_self_signed_certificate_works_once_told_to_accept_it(
    tls_redis: str, smtp_sink: SMTPSink, start_worker
) -> None:
    refused = mailer(
        "send", "welcome", "--to", "ann@example.com", "--context", WELCOME,
        env={"REDIS_URL": tls_redis},
    )  # fmt: skip
    assert refused.returncode == 1 and "certificate verify failed" in refused.stderr

    # The setting for the caller, the URL's own query for the worker: either will do.
    sent = mailer(
        "send", "welcome", "--to", "ann@example.com", "--context", WELCOME,
        env={"REDIS_URL": tls_redis, "MAILER_REDIS_CERT_CHECK": "none"},
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    message_id = sent.stdout.strip()
    worker_env = {
        **smtp_sink.env(),
        "MAILER_FROM": SENDER,
        "REDIS_URL": tls_redis + "?ssl_cert_reqs=none",
    }
    worker = start_worker(worker_env)
    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["ann@example.com"]

    # Receipts, the delivery log and the queues all live in the TLS Redis, none in the suite's.
    client = redis.Redis.from_url(tls_redis, ssl_cert_reqs="none")
    try:
        log = DeliveryLog(client)
        assert wait_until(lambda: getattr(log.get(message_id), "status", None) == "sent")
        assert client.exists(f"mailer:sent:{message_id}"), worker.log()
    finally:
        client.close()
