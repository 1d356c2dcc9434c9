"""Unknown outcomes and the send deadline, for each provider, against real servers.

An answer lost after the provider had the whole message is an ``UnknownOutcome`` (retried
through the same backend only); a failure before that stays a plain transient error. Either
way one provider call ends by ``MAILER_SEND_DEADLINE``, across connecting, every command and
the final reply.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mailer.backends.sendgrid import SendGridBackend
from mailer.backends.ses import SESBackend
from mailer.backends.smtp import SMTPBackend
from mailer.envelope import Email
from mailer.errors import TransientSendError, UnknownOutcome
from mailer.settings import Settings
from tests.support.ses_server import CREDENTIALS, REGION
from tests.support.smtp_server import HOST, SMTPSink

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"
DEADLINE_S = 0.6
#: What a loaded machine may add to a deadline; the point is seconds against the minutes of
#: per-step timeouts (SMTP_TIMEOUT is 5 s in these tests, botocore's default read timeout 60 s).
SLACK_S = 1.5


def an_email() -> Email:
    return Email(to=["Ann <ann@example.com>"], from_email=SENDER, subject="Hi", text="Hello.")


def smtp_settings(port: int) -> Settings:
    return Settings(
        backend="smtp",
        from_email=SENDER,
        smtp_host=HOST,
        smtp_port=port,
        smtp_security="none",
        smtp_timeout_s=5.0,
        send_deadline_s=DEADLINE_S,
    )


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts connections into its backlog and never says a word."""
    with socket.create_server((HOST, 0)) as listener:
        yield listener.getsockname()[1]


@pytest.fixture
def slow_smtp_server() -> Iterator[int]:
    """An SMTP server that answers every line correctly, a quarter of a second late."""
    listener = socket.create_server((HOST, 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, connection.makefile("rb") as lines:
            time.sleep(0.25)
            connection.sendall(b"220 slow.test ESMTP\r\n")
            for _ in lines:
                if stop.wait(0.25):
                    return
                connection.sendall(b"250 ok\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_an_smtp_answer_lost_after_the_final_dot_is_an_unknown_outcome(
    smtp_sink: SMTPSink,
) -> None:
    smtp_sink.script(["late"])  # the server keeps the message and answers 30 s later
    started = time.monotonic()
    with pytest.raises(UnknownOutcome) as caught, SMTPBackend(smtp_settings(smtp_sink.port)) as b:
        b.send(an_email())

    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    assert "no answer to the end of DATA" in caught.value.detail
    assert "Its last words: 354" in caught.value.detail  # the go-ahead for the message
    assert len(smtp_sink.messages) == 1  # and the server did keep it


def test_the_deadline_spans_every_smtp_step_and_fails_before_the_handover_as_transient(
    slow_smtp_server: int,
) -> None:
    """Each reply comes well within SMTP_TIMEOUT, but greeting, EHLO, MAIL and RCPT together
    take longer than the deadline: the send ends there, before DATA, as a plain retry."""
    started = time.monotonic()
    with pytest.raises(TransientSendError) as caught:
        SMTPBackend(smtp_settings(slow_smtp_server)).send(an_email())

    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    assert not isinstance(caught.value, UnknownOutcome)


def test_a_reply_to_the_message_is_an_answer_not_an_unknown_outcome(smtp_sink: SMTPSink) -> None:
    smtp_sink.script(["451 4.3.0 Try again later"])
    with (
        pytest.raises(TransientSendError) as caught,
        SMTPBackend(smtp_settings(smtp_sink.port)) as b,
    ):
        b.send(an_email())
    assert not isinstance(caught.value, UnknownOutcome)
    assert caught.value.status == 451


def test_a_refused_smtp_connection_is_not_an_unknown_outcome() -> None:
    with socket.socket() as closed:
        closed.bind((HOST, 0))
        with pytest.raises(TransientSendError) as caught:
            SMTPBackend(smtp_settings(closed.getsockname()[1])).send(an_email())
    assert not isinstance(caught.value, UnknownOutcome)


def test_an_ses_request_left_unanswered_is_an_unknown_outcome_by_the_deadline(
    silent_listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings = Settings(
        backend="ses",
        from_email=SENDER,
        aws_region=REGION,
        ses_endpoint_url=f"http://{HOST}:{silent_listener}",
        send_deadline_s=DEADLINE_S,
    )
    started = time.monotonic()
    with pytest.raises(UnknownOutcome) as caught, SESBackend(settings) as backend:
        backend.send(an_email())

    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    assert "SES may have accepted it" in caught.value.detail


@pytest.mark.parametrize("listening", [True, False])
def test_a_sendgrid_request_left_unanswered_is_an_unknown_outcome_a_refused_one_is_not(
    listening: bool, silent_listener: int
) -> None:
    port = silent_listener
    if not listening:
        with socket.socket() as closed:
            closed.bind((HOST, 0))
            port = closed.getsockname()[1]
    settings: dict[str, Any] = {
        "from_email": SENDER,
        "sendgrid_api_key": "SG.test-key",
        "sendgrid_host": f"http://{HOST}:{port}",
        "send_deadline_s": DEADLINE_S,
    }
    started = time.monotonic()
    with pytest.raises(TransientSendError) as caught:
        SendGridBackend(Settings(**settings)).send(an_email())

    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    assert isinstance(caught.value, UnknownOutcome) is listening
