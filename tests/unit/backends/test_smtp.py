"""How the SMTP backend maps smtplib's and the network's errors, and reads the server's id."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from mailer.backends import create_backend
from mailer.backends.smtp import SMTPBackend, _provider_id
from mailer.envelope import Email
from mailer.errors import ConfigurationError, PermanentSendError, SendError, TransientSendError
from mailer.settings import Settings

USERNAME, PASSWORD = "shop-mailer", "s3cret-Pa55"
SETTINGS = Settings(
    backend="smtp",
    from_email="Shop <shop@example.com>",
    smtp_host="127.0.0.1",
    smtp_port=2525,
    smtp_username=USERNAME,
    smtp_password=PASSWORD,
)


def mapped(err: Exception) -> SendError:
    with pytest.raises(SendError) as caught, SMTPBackend(SETTINGS)._map_errors():
        raise err
    assert caught.value.__cause__ is err
    assert caught.value.backend == "smtp"
    return caught.value


@pytest.mark.parametrize(
    ("err", "kind", "status"),
    [
        (smtplib.SMTPSenderRefused(421, b"4.7.0 Closing connection", "a@x.org"), "T", 421),
        (smtplib.SMTPAuthenticationError(454, b"4.7.0 Temporary auth failure"), "T", 454),
        (smtplib.SMTPDataError(452, b"4.3.1 Insufficient storage"), "T", 452),
        (smtplib.SMTPDataError(554, b"5.7.1 Message rejected"), "P", 554),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Bad credentials"), "P", 535),
        (smtplib.SMTPConnectError(554, b"No SMTP service here"), "P", 554),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."), "P", None),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "T", None),
        (TimeoutError("timed out"), "T", None),
        (ConnectionRefusedError(111, "Connection refused"), "T", None),
        (ConnectionResetError(104, "Connection reset by peer"), "T", None),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "T", None),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "P", None),
    ],
)
def test_errors_are_transient_or_permanent(err: Exception, kind: str, status: int | None) -> None:
    error = mapped(err)

    expected = TransientSendError if kind == "T" else PermanentSendError
    assert type(error) is expected
    assert error.status == status


def test_the_reply_text_is_the_detail() -> None:
    error = mapped(smtplib.SMTPDataError(550, b"5.1.1 Mailbox unavailable"))

    assert str(error) == "smtp 550: 5.1.1 Mailbox unavailable"


def test_credentials_echoed_by_the_server_are_masked() -> None:
    reply = f"5.7.8 {USERNAME} / {PASSWORD} not accepted".encode()

    error = mapped(smtplib.SMTPAuthenticationError(535, reply))

    assert USERNAME not in str(error)
    assert PASSWORD not in str(error)


def test_a_4xx_among_refused_recipients_makes_it_transient() -> None:
    refused = {"a@x.org": (550, b"5.1.1 Unknown"), "b@x.org": (452, b"4.2.2 Mailbox full")}

    error = mapped(smtplib.SMTPRecipientsRefused(refused))

    assert isinstance(error, TransientSendError)
    assert error.status == 452
    assert "550 5.1.1 Unknown" in error.detail
    assert "a@x.org" not in error.detail  # the reply names the refusal, never the recipient


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"2.0.0 Ok: queued as 4B3C61D0E4", "4B3C61D0E4"),
        (b"OK id=1uXyZa-000Abc-De", "1uXyZa-000Abc-De"),
        (b"2.0.0 Ok", "<m-1@example.com>"),
        (b"", "<m-1@example.com>"),
    ],
)
def test_provider_id_is_the_queue_id_else_the_message_id(reply: bytes, expected: str) -> None:
    email = Email(to=["a@example.com"], from_email="shop@example.com", message_id="m-1")

    assert _provider_id(reply, email.message_id_header()) == expected


def test_selected_by_name_and_checks_its_settings() -> None:
    assert isinstance(create_backend(SETTINGS), SMTPBackend)
    with pytest.raises(ConfigurationError, match="MAILER_FROM"):
        create_backend(Settings(backend="smtp"))
    with pytest.raises(ConfigurationError, match="SMTP_SECURITY"):
        create_backend(Settings(backend="smtp", from_email="a@example.com", smtp_security="tls"))
