"""moto's server standing in for Amazon SES over real HTTP, on a free loopback port.

One server runs per test session, in a thread of the test process; a worker in another process
reaches it over TCP like the real SES. Each test starts from a reset server. What was sent is
read back from moto's own ``/moto-api/data.json``, where SES keeps every raw message with its
envelope (Bcc included), exactly as the backend handed it over.
"""

from __future__ import annotations

import email
import email.policy
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
# moto accepts any credentials; these are the conventional dummies, never real ones.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class SentMessage:
    id: str
    source: str
    destinations: list[str]
    raw_data: str

    @property
    def mime(self) -> EmailMessage:
        return email.message_from_string(self.raw_data, policy=email.policy.default)


class MotoSES:
    """A handle on the running server: its URL, and what it holds."""

    region = REGION

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def env(self) -> dict[str, str]:
        """What a worker process needs in its environment to send through this server."""
        return {
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "MAILER_BACKEND": "ses",
            "MAILER_SES_ENDPOINT_URL": self.endpoint_url,
        }

    def verify(self, identity: str) -> None:
        """Verify a sender address or domain: moto, like SES, rejects any other sender."""
        client = boto3.client(
            "sesv2",
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        try:
            client.create_email_identity(EmailIdentity=identity)
        finally:
            client.close()

    def sent_messages(self) -> list[SentMessage]:
        """Every message SES accepted since the last reset, oldest first."""
        with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json") as response:
            data: dict[str, Any] = json.load(response)
        raw_messages = data.get("ses", {}).get("RawMessage", [])
        return [
            SentMessage(item["id"], item["source"], item["destinations"], item["raw_data"])
            for item in raw_messages
        ]

    def wait_for_messages(self, count: int, timeout_s: float = 10.0) -> list[SentMessage]:
        """At least ``count`` sent messages, waiting for a worker in another process."""
        deadline = time.monotonic() + timeout_s
        while len(messages := self.sent_messages()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(messages)} SES messages, wanted {count}")
            time.sleep(0.05)
        return messages

    def reset(self) -> None:
        """Forget identities and messages: every moto service starts over."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request) as response:
            response.read()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The session's moto server; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_ses(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> MotoSES:
    """A reset moto SES, with the AWS variables boto3 reads pointing at test values."""
    ses = MotoSES(moto_server)
    ses.reset()
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return ses
