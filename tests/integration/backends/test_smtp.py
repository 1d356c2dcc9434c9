"""The SMTP backend against a real SMTP server (aiosmtpd on loopback), no mocks."""

from __future__ import annotations

import logging
import smtplib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mailer.backends.smtp import SMTPBackend
from mailer.backends.smtp_connection import Connection
from mailer.envelope import Email
from mailer.errors import PermanentSendError, TransientSendError, UnknownOutcome
from mailer.settings import Settings
from tests.support.smtp_server import HOST, Certificate, SMTPSink

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"
USERNAME, PASSWORD = "shop-mailer", "s3cret-Pa55"


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def smtp_sink(request: pytest.FixtureRequest) -> Iterator[SMTPSink]:
    """Each test twice: against a server offering PIPELINING, and one that does not."""
    with SMTPSink(pipelining=request.param) as sink:
        yield sink


def settings_for(sink: SMTPSink, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "backend": "smtp",
        "from_email": SENDER,
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_security": sink.tls or "none",
        "smtp_timeout_s": 5.0,
    }
    return Settings(**{**values, **overrides})


def make_email(**overrides: Any) -> Email:
    values: dict[str, Any] = {
        "to": ["Ann Buyer <ann@example.com>"],
        "from_email": SENDER,
        "subject": "Your order #42",
        "text": "Thanks for your order.",
        "html": "<p>Thanks for your order.</p>",
    }
    return Email(**{**values, **overrides})


def test_delivers_with_bcc_in_the_envelope_only(smtp_sink: SMTPSink) -> None:
    email = make_email(cc=["Cy <cy@example.com>"], bcc=["audit@example.com"])

    with SMTPBackend(settings_for(smtp_sink)) as backend:
        provider_id = backend.send(email)

    [received] = smtp_sink.wait_for(1)
    assert provider_id == received.queue_id
    assert received.mail_from == "shop@example.com"
    assert received.rcpt_tos == ["ann@example.com", "cy@example.com", "audit@example.com"]
    message = received.message
    assert message["Subject"] == "Your order #42"
    assert message["To"] == "Ann Buyer <ann@example.com>"
    assert message["Cc"] == "Cy <cy@example.com>"
    assert "Bcc" not in message
    assert b"audit@example.com" not in received.raw
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]


def test_message_id_is_the_provider_id_when_the_reply_has_no_queue_id(
    smtp_sink: SMTPSink,
) -> None:
    smtp_sink.script(["250 2.0.0 Message accepted"])

    with SMTPBackend(settings_for(smtp_sink)) as backend:
        provider_id = backend.send(make_email(message_id="m-1"))

    assert provider_id == "<m-1@example.com>"


def test_logs_in_with_the_configured_credentials(make_smtp_sink: Any) -> None:
    sink = make_smtp_sink(username=USERNAME, password=PASSWORD)

    with SMTPBackend(settings_for(sink, smtp_username=USERNAME, smtp_password=PASSWORD)) as backend:
        backend.send(make_email())

    assert sink.wait_for(1)[0].login == USERNAME


def test_bad_password_is_permanent_and_never_shown(make_smtp_sink: Any) -> None:
    sink = make_smtp_sink(username=USERNAME, password=PASSWORD)
    wrong = "wr0ng-Pa55"
    backend = SMTPBackend(settings_for(sink, smtp_username=USERNAME, smtp_password=wrong))

    with pytest.raises(PermanentSendError) as caught:
        backend.send(make_email())

    assert caught.value.status == 535
    assert caught.value.backend == "smtp"
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value.args)
    assert sink.attempts == 0


def test_a_server_that_requires_auth_refuses_anonymous_mail(make_smtp_sink: Any) -> None:
    sink = make_smtp_sink(username=USERNAME, password=PASSWORD)

    with pytest.raises(PermanentSendError) as caught, SMTPBackend(settings_for(sink)) as backend:
        backend.send(make_email())

    assert caught.value.status == 530


def test_4xx_is_transient_and_the_next_message_starts_clean(smtp_sink: SMTPSink) -> None:
    smtp_sink.script(["451 4.3.0 Try again later"])

    with SMTPBackend(settings_for(smtp_sink)) as backend:
        with pytest.raises(TransientSendError) as caught:
            backend.send(make_email(subject="first"))
        backend.send(make_email(subject="second"))

    assert caught.value.status == 451
    assert caught.value.detail == "4.3.0 Try again later"
    assert [m.message["Subject"] for m in smtp_sink.wait_for(1)] == ["second"]
    assert smtp_sink.attempts == 2
    assert smtp_sink.connections == 2  # the failed transaction's connection was dropped


def test_5xx_is_permanent(smtp_sink: SMTPSink) -> None:
    smtp_sink.reject_all = "550 5.1.1 Mailbox unavailable"

    with pytest.raises(PermanentSendError) as caught, SMTPBackend(settings_for(smtp_sink)) as b:
        b.send(make_email())

    assert caught.value.status == 550
    assert str(caught.value) == "smtp 550: 5.1.1 Mailbox unavailable"


def test_some_recipients_refused_is_a_success_with_a_warning(
    smtp_sink: SMTPSink, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_sink.reject_recipient("gone@example.com")

    with (
        caplog.at_level(logging.WARNING, "mailer.backends.smtp"),
        SMTPBackend(settings_for(smtp_sink)) as backend,
    ):
        backend.send(make_email(to=["ann@example.com", "gone@example.com"]))

    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["ann@example.com"]
    [record] = caplog.records
    assert "refused 1 of 2 recipients" in record.getMessage()
    assert "550 5.1.1 Mailbox unavailable" in record.getMessage()
    assert "gone@example.com" not in record.getMessage()


def test_every_recipient_refused_is_permanent_for_5xx(smtp_sink: SMTPSink) -> None:
    smtp_sink.reject_recipient("ann@example.com")

    with pytest.raises(PermanentSendError) as caught, SMTPBackend(settings_for(smtp_sink)) as b:
        b.send(make_email())

    assert caught.value.status == 550
    assert "ann@example.com" not in caught.value.detail
    assert caught.value.bounced == ("ann@example.com",)


def test_a_refused_transaction_leaves_the_connection_in_step(smtp_sink: SMTPSink) -> None:
    # The backend drops a connection after any refusal; the client itself must still end
    # each refused transaction cleanly (RFC 2920: every reply of the group read, then RSET).
    smtp_sink.reject_recipient("gone@example.com")
    smtp_sink.reject_sender("spoof@example.com")
    deadline_s = time.monotonic() + 10
    connection = Connection(HOST, smtp_sink.port, deadline_s=deadline_s, step_s=5.0)
    try:
        connection.ehlo()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            connection.sendmail(
                "shop@example.com", ["gone@example.com"], b"Subject: a\r\n\r\nx\r\n"
            )
        with pytest.raises(smtplib.SMTPSenderRefused):
            connection.sendmail(
                "spoof@example.com", ["ann@example.com"], b"Subject: b\r\n\r\nx\r\n"
            )
        refused = connection.sendmail(
            "shop@example.com", ["gone@example.com", "ann@example.com"], b"Subject: c\r\n\r\nx\r\n"
        )
    finally:
        connection.close()

    assert set(refused) == {"gone@example.com"}
    [received] = smtp_sink.wait_for(1)
    assert received.message["Subject"] == "c"
    assert received.rcpt_tos == ["ann@example.com"]


def test_pipelining_writes_the_envelope_and_data_command_at_once(
    smtp_sink: SMTPSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    send, getreply = Connection.send, Connection.getreply

    def recording_send(self: Connection, data: Any) -> None:
        steps.append("write")
        send(self, data)

    def recording_getreply(self: Connection) -> tuple[int, bytes]:
        steps.append("read")
        return getreply(self)

    with SMTPBackend(settings_for(smtp_sink)) as backend:
        backend.open()
        monkeypatch.setattr(Connection, "send", recording_send)
        monkeypatch.setattr(Connection, "getreply", recording_getreply)
        backend.send(make_email(to=["ann@example.com", "bob@example.com"]))
        monkeypatch.undo()  # the QUIT at the end is not part of the transaction

    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["ann@example.com", "bob@example.com"]
    if smtp_sink.pipelining:  # MAIL, 2 x RCPT and DATA, then the message: 2 round trips
        assert steps == ["write", "read", "read", "read", "read", "write", "read"]
    else:
        assert steps == ["write", "read"] * 5


def test_every_recipient_refused_is_transient_if_one_was_4xx(smtp_sink: SMTPSink) -> None:
    smtp_sink.reject_recipient("ann@example.com")
    smtp_sink.reject_recipient("bob@example.com", "450 4.2.1 Mailbox busy")

    with pytest.raises(TransientSendError) as caught, SMTPBackend(settings_for(smtp_sink)) as b:
        b.send(make_email(to=["ann@example.com", "bob@example.com"]))

    assert caught.value.status == 450


def test_one_connection_carries_many_messages(smtp_sink: SMTPSink) -> None:
    with SMTPBackend(settings_for(smtp_sink)) as backend:
        ids = [backend.send(make_email(subject=f"#{n}")) for n in range(5)]

    assert len(smtp_sink.wait_for(5)) == 5
    assert len(set(ids)) == 5
    assert smtp_sink.connections == 1


def test_open_reports_whether_it_connected_and_close_is_idempotent(smtp_sink: SMTPSink) -> None:
    backend = SMTPBackend(settings_for(smtp_sink))

    assert backend.open() is True
    assert backend.open() is False
    backend.close()
    backend.close()

    assert smtp_sink.connections == 1


def test_a_dropped_connection_is_remade_and_the_message_sent_once(smtp_sink: SMTPSink) -> None:
    with SMTPBackend(settings_for(smtp_sink)) as backend:
        backend.send(make_email(subject="before"))
        smtp_sink.drop_connections()
        backend.send(make_email(subject="after"))

    received = smtp_sink.wait_for(2)
    assert [m.message["Subject"] for m in received] == ["before", "after"]
    assert smtp_sink.attempts == 2
    assert smtp_sink.connections == 2


def test_a_drop_after_data_is_not_resent_and_its_outcome_is_unknown(smtp_sink: SMTPSink) -> None:
    smtp_sink.script(["drop"])  # the server keeps the message but never answers

    with pytest.raises(UnknownOutcome) as caught, SMTPBackend(settings_for(smtp_sink)) as backend:
        backend.send(make_email())

    assert "the server may have accepted the message" in caught.value.detail
    assert smtp_sink.attempts == 1
    assert len(smtp_sink.messages) == 1


def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as closed:
        closed.bind((HOST, 0))  # bound but not listening: connecting is refused
        settings = Settings(
            backend="smtp",
            from_email=SENDER,
            smtp_host=HOST,
            smtp_port=closed.getsockname()[1],
            smtp_security="none",
        )
        with pytest.raises(TransientSendError) as caught:
            SMTPBackend(settings).send(make_email())

    assert caught.value.status is None
    assert "refused" in caught.value.detail.lower()


def test_a_server_that_never_answers_times_out_as_transient() -> None:
    with socket.create_server((HOST, 0)) as silent:
        settings = Settings(
            backend="smtp",
            from_email=SENDER,
            smtp_host=HOST,
            smtp_port=silent.getsockname()[1],
            smtp_security="none",
            smtp_timeout_s=0.5,
        )
        started = time.monotonic()
        with pytest.raises(TransientSendError):
            SMTPBackend(settings).send(make_email())

    assert time.monotonic() - started < 3


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_delivers_over_tls(make_smtp_sink: Any, smtp_certificate: Certificate, tls: str) -> None:
    sink = make_smtp_sink(
        tls=tls, certificate=smtp_certificate, username=USERNAME, password=PASSWORD
    )
    settings = settings_for(sink, smtp_username=USERNAME, smtp_password=PASSWORD)

    with SMTPBackend(settings, ssl_context=smtp_certificate.client_context()) as backend:
        backend.send(make_email())

    [received] = sink.wait_for(1)
    assert received.encrypted
    assert received.login == USERNAME


def test_the_default_context_verifies_with_the_system_trust_store(
    make_smtp_sink: Any, smtp_certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = make_smtp_sink(tls="starttls", certificate=smtp_certificate)
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_certificate.ca_path))

    with SMTPBackend(settings_for(sink)) as backend:
        backend.send(make_email())

    assert sink.wait_for(1)[0].encrypted


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_an_untrusted_certificate_is_permanent(
    make_smtp_sink: Any, smtp_certificate: Certificate, tls: str
) -> None:
    sink = make_smtp_sink(tls=tls, certificate=smtp_certificate)

    with pytest.raises(PermanentSendError) as caught:
        SMTPBackend(settings_for(sink)).send(make_email())

    assert "certificate verify failed" in caught.value.detail
    assert sink.attempts == 0


def test_starttls_not_offered_is_permanent(smtp_sink: SMTPSink) -> None:
    backend = SMTPBackend(settings_for(smtp_sink, smtp_security="starttls"))

    with pytest.raises(PermanentSendError) as caught:
        backend.send(make_email())

    assert "STARTTLS" in caught.value.detail


def test_the_recipients_refused_for_good_are_named_as_bounced(smtp_sink: SMTPSink) -> None:
    smtp_sink.reject_recipient("ann@example.com")
    smtp_sink.reject_recipient("bob@example.com", "450 4.2.1 Mailbox busy")

    with pytest.raises(TransientSendError) as caught, SMTPBackend(settings_for(smtp_sink)) as b:
        b.send(make_email(to=["ann@example.com", "bob@example.com"]))

    assert caught.value.bounced == ("ann@example.com",)  # bob's refusal may pass later


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for your order.\nNo line here starts with a dot.",
        ".A first line with a dot\nthen\n.. two\n.\nand a lone one",
    ],
)
def test_the_server_receives_exactly_the_bytes_built(smtp_sink: SMTPSink, text: str) -> None:
    # A message with no line starting with a dot skips smtplib's dot-stuffing scan; one with
    # such lines is stuffed. Either way the server, having unstuffed, holds the same bytes.
    email = make_email(text=text, html=None)
    with SMTPBackend(settings_for(smtp_sink)) as backend:
        backend.send(email)
        backend.send(email)  # the connection stays in step for the next transaction
    first, second = smtp_sink.wait_for(2)
    assert first.message.get_content() == text.replace("\n", "\r\n") + "\r\n"
    assert first.raw.split(b"\r\n\r\n", 1)[1] == second.raw.split(b"\r\n\r\n", 1)[1]
