"""The SES backend against moto's server over real HTTP, and its error mapping."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailer.backends.ses import SESBackend, _map_errors, message_tags
from mailer.envelope import Attachment, Email
from mailer.errors import (
    ConfigurationError,
    PermanentSendError,
    Throttled,
    TransientSendError,
)
from mailer.settings import Settings
from tests.support.ses_server import REGION, MotoSES

pytestmark = pytest.mark.integration

SENDER = "Sender <sender@example.com>"


def ses_settings(endpoint_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "backend": "ses",
        "from_email": SENDER,
        "aws_region": REGION,
        "ses_endpoint_url": endpoint_url,
    }
    return Settings(**(values | overrides))


def an_email(**overrides: Any) -> Email:
    values: dict[str, Any] = {
        "to": ["Ann <ann@example.org>"],
        "from_email": SENDER,
        "subject": "Your invoice",
        "text": "Invoice attached.",
        "html": "<p>Invoice attached.</p>",
    }
    return Email(**(values | overrides))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_delivers_raw_mime_with_attachment_header_and_bcc(moto_ses: MotoSES) -> None:
    moto_ses.verify("sender@example.com")
    email = an_email(
        cc=["cc@example.org"],
        bcc=["hidden@example.org"],
        headers={"X-Campaign": "spring-2024"},
        attachments=[Attachment("invoice.pdf", b"%PDF-1.4 invoice", "application/pdf")],
        tags=["billing"],
        metadata={"invoice.id": "INV 42"},
        message_id="0123abcd",
    )
    with SESBackend(ses_settings(moto_ses.endpoint_url)) as backend:
        provider_id = backend.send(email)

    [sent] = moto_ses.sent_messages()
    assert sent.id == provider_id
    assert sent.source == "sender@example.com"
    assert {"ann@example.org", "cc@example.org", "hidden@example.org"} <= set(sent.destinations)
    mime = sent.mime
    assert mime["X-Campaign"] == "spring-2024"
    assert mime["Message-ID"] == "<0123abcd@example.com>"
    assert mime["Bcc"] is None
    [attachment] = list(mime.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content() == b"%PDF-1.4 invoice"


def test_reuses_one_client_across_sends(moto_ses: MotoSES) -> None:
    moto_ses.verify("example.com")  # a verified domain covers every sender in it
    backend = SESBackend(ses_settings(moto_ses.endpoint_url, ses_configuration_set="transactional"))
    assert backend.open() is True
    assert backend.open() is False
    ids = {backend.send(an_email(subject=f"n{n}")) for n in range(3)}
    backend.close()
    backend.close()
    assert len(ids) == 3
    assert [m.mime["Subject"] for m in moto_ses.sent_messages()] == ["n0", "n1", "n2"]


def test_unverified_sender_is_permanent(moto_ses: MotoSES) -> None:
    with (
        SESBackend(ses_settings(moto_ses.endpoint_url)) as backend,
        pytest.raises(PermanentSendError) as caught,
    ):
        backend.send(an_email())
    assert caught.value.backend == "ses"
    assert caught.value.status == "MessageRejected"
    assert "sender@example.com" in caught.value.detail
    assert isinstance(caught.value.__cause__, ClientError)
    assert moto_ses.sent_messages() == []


def test_unreachable_endpoint_is_transient(moto_ses: MotoSES) -> None:
    settings = ses_settings(f"http://127.0.0.1:{closed_port()}")
    with SESBackend(settings) as backend, pytest.raises(TransientSendError) as caught:
        backend.send(an_email())
    assert not isinstance(caught.value, PermanentSendError)
    assert caught.value.backend == "ses"


def test_missing_credentials_are_permanent_and_name_no_secret(
    moto_ses: MotoSES, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with (
        SESBackend(ses_settings(moto_ses.endpoint_url)) as backend,
        pytest.raises(PermanentSendError, match="credentials"),
    ):
        backend.send(an_email())


def test_check_settings_requires_region_and_sender() -> None:
    with pytest.raises(ConfigurationError) as caught:
        SESBackend.check_settings(Settings(from_email=SENDER))
    assert caught.value.variable == "AWS_REGION"
    with pytest.raises(ConfigurationError) as caught:
        SESBackend.check_settings(Settings(aws_region=REGION))
    assert caught.value.variable == "MAILER_FROM"
    SESBackend.check_settings(Settings(from_email=SENDER, aws_region=REGION))


def aws_error(code: str, message: str, status: int, **headers: str) -> ClientError:
    """The exception botocore raises for an AWS error answer, built the way botocore does."""
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    return ClientError(response, "SendEmail")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aws_error("TooManyRequestsException", "Maximum sending rate exceeded.", 429), Throttled),
        (aws_error("ThrottlingException", "Rate exceeded", 400), Throttled),
        (aws_error("Throttling", "Maximum sending rate exceeded.", 400), Throttled),
        (aws_error("LimitExceededException", "Daily message quota exceeded.", 400), Throttled),
        (aws_error("LimitExceededException", "Too many sets", 400), PermanentSendError),
        (aws_error("InternalFailure", "Internal error", 500), TransientSendError),
        (aws_error("", "", 503), TransientSendError),
        (aws_error("MessageRejected", "Email address is not verified.", 400), PermanentSendError),
        (aws_error("AccountSuspendedException", "Suspended", 400), PermanentSendError),
        (aws_error("SendingPausedException", "Paused", 400), PermanentSendError),
        (aws_error("MailFromDomainNotVerifiedException", "Unverified", 400), PermanentSendError),
        (aws_error("NotFoundException", "No such configuration set", 404), PermanentSendError),
        (aws_error("BadRequestException", "Bad request", 400), PermanentSendError),
    ],
)
def test_aws_errors_map_by_code_status_and_text(error: ClientError, expected: type) -> None:
    with pytest.raises(expected) as caught, _map_errors():
        raise error
    assert type(caught.value) is expected
    assert caught.value.__cause__ is error
    code = error.response["Error"]["Code"]
    assert caught.value.status == (code or 503)


def test_throttled_carries_retry_after_when_aws_sends_it() -> None:
    error = aws_error("TooManyRequestsException", "Slow down", 429, **{"retry-after": "3"})
    with pytest.raises(Throttled) as caught, _map_errors():
        raise error
    assert caught.value.retry_after_s == 3.0
    assert str(caught.value) == "ses TooManyRequestsException: Slow down"
    with pytest.raises(Throttled) as caught, _map_errors():
        raise aws_error("Throttling", "Maximum sending rate exceeded.", 400)
    assert caught.value.retry_after_s is None


def test_message_tags_are_sanitised_or_skipped() -> None:
    tags = message_tags(["welcome", "beta users", "ü"], {"user.id": "42", "plan": "a/b", "x": ""})
    assert tags == [
        {"Name": "welcome", "Value": "true"},
        {"Name": "beta_users", "Value": "true"},
        {"Name": "_", "Value": "true"},
        {"Name": "user_id", "Value": "42"},
        {"Name": "plan", "Value": "a_b"},
    ]
    assert message_tags([], {}) == []
    assert len(message_tags([f"t{n}" for n in range(80)], {})) == 50
