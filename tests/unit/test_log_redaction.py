"""Every log record that carries a Dramatiq message shows it as ``actor_name[message_id]``,
whatever the logger, whatever the handler, in whichever process called ``install``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import default_middleware

from mailer import log_redaction
from mailer.backends import memory
from mailer.backends.memory import MemoryBackend
from mailer.envelope import Email
from mailer.errors import PermanentSendError
from mailer.settings import Settings

RESET_URL = "https://shop.example.com/reset?token=tok-8c1f"
RECIPIENT = "ann.redacted@example.com"


@pytest.fixture(autouse=True)
def redaction() -> Iterator[None]:
    before = logging.getLogRecordFactory()
    log_redaction.install()
    yield
    logging.setLogRecordFactory(before)


def reset_message() -> dramatiq.Message[None]:
    return dramatiq.Message(
        queue_name="mailer_critical",
        actor_name="send_password_reset",
        args=({"to": [RECIPIENT]}, {"name": "Ann", "reset_url": RESET_URL}),
        kwargs={},
        options={"attachments": "QmFzZTY0IGJ5dGVz"},
    )


def logged(caplog: pytest.LogCaptureFixture, logger_name: str, msg: object, *args: object) -> str:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger(logger_name).warning(msg, *args)
    return caplog.records[-1].getMessage()


@pytest.mark.parametrize(
    "logger_name",
    [
        "dramatiq.worker.ConsumerThread(mailer_critical)",
        "dramatiq.worker.WorkerThread",
        "dramatiq.middleware.retries.Retries",
        "dramatiq.broker.RedisBroker",
        "mailer.worker.send",
        "an.app.of.its.own",
    ],
)
def test_a_message_argument_shows_as_its_actor_and_id_in_any_logger(caplog, logger_name):
    message = reset_message()
    line = logged(
        caplog,
        logger_name,
        "Failed to post_process_message(%s) due to a connection error: %s",
        message,
        "Connection refused",
    )
    assert line == (
        f"Failed to post_process_message(send_password_reset[{message.message_id}]) "
        "due to a connection error: Connection refused"
    )


def test_repr_of_a_message_proxy_shows_the_same_label(caplog):
    message = reset_message()
    line = logged(caplog, "dramatiq.worker.WorkerThread", "Got %r.", MessageProxy(message))
    assert line == f"Got send_password_reset[{message.message_id}]."


def test_a_message_logged_as_the_msg_itself_is_labelled(caplog):
    message = reset_message()
    assert logged(caplog, "dramatiq", message) == f"send_password_reset[{message.message_id}]"


def test_a_message_in_mapping_arguments_is_labelled(caplog):
    message = reset_message()
    line = logged(
        caplog,
        "dramatiq",
        "%(message)s failed %(times)d times",
        {
            "message": message,
            "times": 3,
        },
    )
    assert line == f"send_password_reset[{message.message_id}] failed 3 times"


def test_records_without_messages_are_left_as_they_are(caplog):
    args = ("ann", 3)
    with caplog.at_level(logging.INFO):
        logging.getLogger("mailer").info("%s sent %d", *args)
    [record] = caplog.records
    assert record.args == args
    assert record.getMessage() == "ann sent 3"


def test_install_twice_wraps_the_record_factory_once():
    once = logging.getLogRecordFactory()
    log_redaction.install()
    assert logging.getLogRecordFactory() is once


def test_uninstall_puts_back_the_previous_factory():
    wrapped = logging.getLogRecordFactory()
    log_redaction.uninstall()
    try:
        assert not isinstance(logging.getLogRecordFactory(), type(wrapped))
    finally:
        log_redaction.install()


def test_dramatiqs_own_failure_lines_carry_no_argument(caplog):
    broker = StubBroker(middleware=[m() for m in default_middleware if m.__name__ != "Prometheus"])
    broker.emit_after("process_boot")

    def send_password_reset(envelope: dict[str, object], context: dict[str, str]) -> None:
        raise RuntimeError("provider down")

    actor = dramatiq.actor(send_password_reset, broker=broker, max_retries=1, min_backoff=1)
    worker = Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        with caplog.at_level(logging.DEBUG):
            message = actor.send({"to": [RECIPIENT]}, {"reset_url": RESET_URL})
            broker.join(actor.queue_name, fail_fast=False)
            worker.join()
    finally:
        worker.stop()
        broker.close()
    assert f"send_password_reset[{message.message_id}]" in caplog.text
    assert "Received args=<2 hidden> kwargs=<0 hidden>." in caplog.messages
    assert RECIPIENT not in caplog.text
    assert RESET_URL not in caplog.text


def test_a_providers_answer_quoting_a_recipient_is_masked_in_the_error():
    quoted = "Email address is not verified. Failed the check: Ann.Redacted@Example.com"
    memory.reset()
    memory.fail_next(PermanentSendError("memory", quoted, status=400))
    email = Email(to=[f"Ann <{RECIPIENT}>"], from_email="shop@example.com", subject="Hi")
    try:
        with pytest.raises(PermanentSendError) as caught:
            MemoryBackend(Settings()).send(email)
    finally:
        memory.reset()
    masked = "Email address is not verified. Failed the check: ***"
    assert str(caught.value) == f"memory 400: {masked}"
    assert caught.value.args == ("memory", masked, 400)
