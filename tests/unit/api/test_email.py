"""Every bad input is refused at the call site with a typed error naming the field, and
nothing reaches the queue."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from dramatiq.brokers.stub import StubBroker

from mailer import (
    Attachment,
    AttachmentTooLarge,
    InvalidAddress,
    InvalidAttachment,
    InvalidContext,
    InvalidHeader,
    InvalidKey,
    InvalidPriority,
    InvalidSendTime,
    InvalidTemplateName,
    MailerError,
    MissingContext,
    UnknownTemplate,
    ValidationError,
    send_email,
)
from mailer.priorities import LEVELS

WELCOME = {"name": "Ann"}


def queued(broker: StubBroker) -> int:
    return sum(broker.queues[level.queue_name].qsize() for level in LEVELS.values())


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"to": "not-an-address"}, InvalidAddress, "to"),
        ({"to": ""}, InvalidAddress, "to"),
        ({"to": []}, InvalidAddress, "to"),
        ({"to": None}, InvalidAddress, "to"),
        ({"to": 42}, InvalidAddress, "to"),
        ({"to": ["ann@example.com", 7]}, InvalidAddress, "to"),
        ({"to": "ann@example.com\r\nBcc: victim@example.com"}, InvalidAddress, "to"),
        ({"cc": "bob@example.com\n"}, InvalidAddress, "cc"),
        ({"bcc": ["ok@example.com", "bad@"]}, InvalidAddress, "bcc"),
        ({"reply_to": "Support <support@example.com>\r"}, InvalidAddress, "reply_to"),
        ({"from_email": "Shop\n <shop@example.com>"}, InvalidAddress, "from_email"),
        ({"headers": {"X Bad": "1"}}, InvalidHeader, "headers"),
        ({"headers": {"X-Bad:": "1"}}, InvalidHeader, "headers"),
        ({"headers": {"X-Ok": "a\r\nBcc: victim@example.com"}}, InvalidHeader, "headers"),
        ({"headers": {"X-Ok": 5}}, InvalidHeader, "headers"),
        ({"headers": {"Subject": "override"}}, InvalidHeader, "headers"),
        ({"headers": ["X-A", "b"]}, InvalidHeader, "headers"),
        ({"attachments": [("a.txt", b"x")]}, InvalidAttachment, "attachments"),
        ({"attachments": [("a.txt", 5, "text/plain")]}, InvalidAttachment, "attachments"),
        ({"attachments": [("a.txt", b"x", "not a type")]}, InvalidAttachment, "attachments"),
        ({"attachments": [("a\r\n.txt", b"x", "text/plain")]}, InvalidAttachment, "attachments"),
        ({"priority": "urgent"}, InvalidPriority, "priority"),
    ],
)
def test_bad_argument_is_refused_naming_the_field(stub_broker, kwargs, error, field):
    arguments = {"to": "ann@example.com", "context": WELCOME, **kwargs}
    with pytest.raises(error) as raised:
        send_email("welcome", **arguments)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)
    assert queued(stub_broker) == 0


@pytest.mark.parametrize(
    "name", ["../welcome", "welcome/../../etc", "/etc/passwd", "", ".hidden", "a b"]
)
def test_template_names_that_leave_the_folder_are_refused(stub_broker, name):
    with pytest.raises(InvalidTemplateName):
        send_email(name, to="ann@example.com", context=WELCOME)
    assert queued(stub_broker) == 0


def test_unknown_template(stub_broker):
    with pytest.raises(UnknownTemplate, match="no_such_type"):
        send_email("no_such_type", to="ann@example.com", context={})
    assert queued(stub_broker) == 0


@pytest.mark.parametrize(
    "context",
    [["name", "Ann"], "name=Ann", {"name": datetime.now(timezone.utc)}, {"name": float("nan")}],
)
def test_context_must_be_a_json_mapping(stub_broker, context):
    with pytest.raises(InvalidContext) as raised:
        send_email("welcome", to="ann@example.com", context=context)
    assert raised.value.field == "context"
    assert queued(stub_broker) == 0


def test_missing_template_variables_are_named(stub_broker):
    with pytest.raises(MissingContext) as raised:
        send_email("password_reset", to="ann@example.com", context={"name": "Ann"})
    assert raised.value.missing == ["reset_url"]
    assert "reset_url" in str(raised.value)
    assert queued(stub_broker) == 0


def test_attachments_over_the_configured_total_are_refused(stub_broker):
    big = ("big.bin", b"x" * (6 * 1024 * 1024), "application/octet-stream")
    with pytest.raises(AttachmentTooLarge):
        send_email("welcome", to="ann@example.com", context=WELCOME, attachments=[big, big])
    assert queued(stub_broker) == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"send_at": datetime(2030, 1, 1, 9, 0)}, InvalidSendTime),
        ({"send_at": "2030-01-01T09:00:00Z"}, InvalidSendTime),
        ({"idempotency_key": ""}, InvalidKey),
        ({"idempotency_key": "signup:\n42"}, InvalidKey),
        ({"idempotency_key": "k" * 201}, InvalidKey),
        ({"idempotency_key": 42}, InvalidKey),
    ],
)
def test_bad_send_time_or_idempotency_key_is_refused(stub_broker, kwargs, error):
    with pytest.raises(error) as raised:
        send_email("welcome", to="ann@example.com", context=WELCOME, **kwargs)
    assert raised.value.field == next(iter(kwargs))
    assert queued(stub_broker) == 0


def test_valid_call_enqueues_one_message_on_its_priority_queue(stub_broker):
    message_id = send_email(
        "password_reset",
        to=["Ann <ann@example.com>", "bob@example.com"],
        context={"name": "Ann", "reset_url": "https://example.com/r/1"},
        attachments=[Attachment("a.txt", b"hi", "text/plain"), ("b.txt", "hé", "text/plain")],
    )
    queue = stub_broker.queues[LEVELS["critical"].queue_name]
    assert queue.qsize() == 1
    assert queued(stub_broker) == 1
    assert len(message_id) == 36


def test_priority_argument_moves_the_message_to_that_queue(stub_broker):
    send_email(
        "new_post",
        to="ann@example.com",
        context={"title": "T", "url": "https://e.x/p", "excerpt": "E"},
        priority="critical",
    )
    assert stub_broker.queues[LEVELS["critical"].queue_name].qsize() == 1
    assert stub_broker.queues[LEVELS["low"].queue_name].qsize() == 0


def test_every_validation_error_is_a_mailer_error():
    assert issubclass(ValidationError, MailerError)
    assert issubclass(MissingContext, InvalidContext)


@pytest.mark.parametrize("to", ["Ann <Ann@Example.com>", ["ann@example.com", "bob@example.com"]])
def test_a_call_with_only_recipients_queues_the_envelope_email_builds(stub_broker, to):
    """The usual call's envelope is built without an ``Email``: byte for byte the same."""
    from dramatiq import Message

    from mailer.addresses import parse_addresses
    from mailer.envelope import Email

    send_email("welcome", to=to, context=WELCOME)
    [data] = [d for level in LEVELS.values() for d in stub_broker.queues[level.queue_name].queue]
    envelope, _ = Message.decode(data).args
    built = Email(to=parse_addresses(to, "to"), from_email="", tags=["welcome"]).to_json()
    assert list(envelope.items()) == list(built.items())  # the same keys in the same order
