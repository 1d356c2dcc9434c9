"""``send_bulk`` on a StubBroker: what it queues for each form of recipient, what it skips and
reports, what it refuses before queueing anything, and that it reads the recipients lazily."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from mailer import message as message_parts
from mailer import send_email
from mailer.api import bulk
from mailer.api.bulk import BulkResult, send_bulk
from mailer.api.bulk_recipients import MAX_REJECTED_SAMPLES, Rejection
from mailer.backends import memory
from mailer.errors import (
    InvalidAddress,
    InvalidContext,
    InvalidHeader,
    InvalidKey,
    InvalidPriority,
    InvalidTemplateName,
    UnknownTemplate,
    ValidationError,
)
from mailer.priorities import LEVELS
from tests.support.brokers import drain

POST = {"title": "Better mornings", "url": "https://example.com/p/1", "excerpt": "Five habits."}


def queued(broker: StubBroker, level: str = "low") -> list[dramatiq.Message[None]]:
    queue = broker.queues[LEVELS[level].queue_name].queue
    return [dramatiq.Message.decode(data) for data in list(queue)]


def queued_anywhere(broker: StubBroker) -> int:
    return sum(broker.queues[level.queue_name].qsize() for level in LEVELS.values())


def test_each_form_of_recipient_gets_its_own_personalised_message(stub_broker):
    result = send_bulk(
        "new_post",
        [
            "ann@example.com",
            {"email": "Bob <bob@example.com>", "title": "For Bob"},
            ("cy@example.com", {"author": "Jo Lee"}),
        ],
        POST,
    )
    assert result == BulkResult(result.bulk_id, queued=3, rejected=0, rejected_samples=[])
    envelopes = [m.args[0] for m in queued(stub_broker)]
    contexts = [m.args[1] for m in queued(stub_broker)]
    assert [e["to"] for e in envelopes] == [
        ["ann@example.com"],
        ["Bob <bob@example.com>"],
        ["cy@example.com"],
    ]
    assert contexts == [POST, {**POST, "title": "For Bob"}, {**POST, "author": "Jo Lee"}]
    assert {m.options["bulk_id"] for m in queued(stub_broker)} == {result.bulk_id}


def test_a_message_is_what_send_email_would_queue(stub_broker):
    send_email("new_post", to="ann@example.com", context=POST, priority="low")
    send_bulk("new_post", ["ann@example.com"], POST)
    single, bulked = queued(stub_broker)
    assert (bulked.actor_name, bulked.queue_name) == (single.actor_name, single.queue_name)
    assert bulked.args == single.args
    assert bulked.kwargs == single.kwargs


def test_the_worker_sends_each_recipient_their_own_email(stub_broker, stub_worker):
    send_bulk(
        "new_post",
        [{"email": "ann@example.com", "title": "Ann's post"}, "bob@example.com"],
        POST,
        from_email="News <news@example.com>",
        headers={"X-Campaign": "mornings"},
    )
    drain(stub_broker, stub_worker)
    sent = {email.to[0]: email for email in memory.sent()}
    assert set(sent) == {"ann@example.com", "bob@example.com"}
    assert "Ann's post" in sent["ann@example.com"].subject
    assert "Better mornings" in sent["bob@example.com"].subject
    assert all(email.from_email == "News <news@example.com>" for email in sent.values())
    assert all(email.headers["X-Campaign"] == "mornings" for email in sent.values())


def test_bad_recipients_are_skipped_and_reported_and_the_rest_queued(stub_broker):
    recipients = [
        "ann@example.com",
        "not-an-address",
        {"email": "bob@example.com", "title": None, "when": object()},
        ("cy@example.com", {"title": "ok"}),
        {"name": "no address"},
        42,
        "dee@example.com",
    ]
    result = send_bulk("new_post", recipients, POST)
    assert (result.queued, result.rejected) == (3, 4)
    positions = [(r.position, r.address) for r in result.rejected_samples]
    assert positions == [(1, "not-an-address"), (2, "bob@example.com"), (4, "None"), (5, "42")]
    reasons = [r.reason for r in result.rejected_samples]
    assert reasons[0].startswith("to: 'not-an-address' is not a valid address")
    assert reasons[1].startswith("context: must be JSON-serialisable")
    assert reasons[2] == "email: the recipient has no 'email' field"
    assert reasons[3].startswith("recipients: expected an address")
    assert [m.args[0]["to"] for m in queued(stub_broker)] == [
        ["ann@example.com"],
        ["cy@example.com"],
        ["dee@example.com"],
    ]


def test_a_recipient_lacking_a_template_variable_is_rejected(stub_broker):
    shared = {key: value for key, value in POST.items() if key != "title"}
    result = send_bulk(
        "new_post", [{"email": "ann@example.com", "title": "Hi"}, "bob@x.com"], shared
    )
    assert (result.queued, result.rejected) == (1, 1)
    assert result.rejected_samples == [
        Rejection(1, "bob@x.com", "context: template 'new_post' needs title")
    ]


def test_only_the_first_rejections_are_kept_and_all_are_counted(stub_broker):
    count = MAX_REJECTED_SAMPLES + 50
    result = send_bulk("new_post", [f"bad-{i}" for i in range(count)] + ["ok@example.com"], POST)
    assert (result.queued, result.rejected) == (1, count)
    assert [r.position for r in result.rejected_samples] == list(range(MAX_REJECTED_SAMPLES))


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"template": "no_such_type"}, UnknownTemplate, "template"),
        ({"template": "../welcome"}, InvalidTemplateName, "template"),
        ({"context": ["title"]}, InvalidContext, "context"),
        ({"context": {"title": float("nan")}}, InvalidContext, "context"),
        ({"priority": "urgent"}, InvalidPriority, "priority"),
        ({"headers": {"Subject": "x"}}, InvalidHeader, "headers"),
        ({"from_email": "news@"}, InvalidAddress, "from_email"),
        ({"key": ""}, InvalidKey, "key"),
        ({"key": "x" * 201}, InvalidKey, "key"),
    ],
)
def test_a_bad_call_raises_before_reading_any_recipient(stub_broker, kwargs, error, field):
    read: list[str] = []

    def recipients() -> Iterator[str]:
        read.append("ann@example.com")
        yield "ann@example.com"

    arguments = {"template": "new_post", "context": POST, **kwargs}
    with pytest.raises(error) as raised:
        send_bulk(arguments.pop("template"), recipients(), **arguments)
    assert isinstance(raised.value, ValidationError)
    assert raised.value.field == field
    assert read == []
    assert queued_anywhere(stub_broker) == 0


@pytest.mark.parametrize(
    "recipients", ["ann@example.com", b"ann@example.com", {"email": "ann@example.com"}, None, 7]
)
def test_one_recipient_or_none_in_place_of_an_iterable_is_refused(stub_broker, recipients):
    with pytest.raises(InvalidAddress) as raised:
        send_bulk("new_post", recipients, POST)
    assert raised.value.field == "recipients"
    assert queued_anywhere(stub_broker) == 0


def test_bulk_mail_waits_on_the_low_queue_unless_told_otherwise(stub_broker):
    send_bulk("new_post", ["ann@example.com"], POST)
    send_bulk("new_post", ["bob@example.com"], POST, priority="high")
    [low] = queued(stub_broker, "low")
    [high] = queued(stub_broker, "high")
    assert (low.queue_name, high.queue_name) == ("mailer_low", "mailer_high")
    assert high.args[0]["to"] == ["bob@example.com"]


def test_a_key_gives_the_same_message_ids_on_every_run(stub_broker):
    first = send_bulk("new_post", ["ann@example.com", "bob@example.com"], POST, key="post-1")
    again = send_bulk("new_post", ["Ann <ANN@example.com>", "bob@example.com"], POST, key="post-1")
    other = send_bulk("new_post", ["ann@example.com"], POST, key="post-2")
    unkeyed = send_bulk("new_post", ["ann@example.com"], POST)
    ids = [m.message_id for m in queued(stub_broker)]
    assert ids[:2] == ids[2:4]
    assert len(set(ids)) == 4
    assert first.bulk_id == again.bulk_id != other.bulk_id != unkeyed.bulk_id


def test_recipients_are_read_lazily_batch_by_batch(stub_broker, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 10)
    read = 0

    def recipients() -> Iterator[str]:
        nonlocal read
        for i in range(35):
            read += 1
            yield f"user{i}@example.com"

    seen: list[tuple[int, int, int]] = []

    def progress(done: int) -> None:
        seen.append((done, read, queued_anywhere(stub_broker)))

    result = send_bulk("new_post", recipients(), POST, progress=progress)
    assert result.queued == 35
    assert seen == [(10, 10, 10), (20, 20, 20), (30, 30, 30), (35, 35, 35)]
    assert len(seen) == math.ceil(35 / 10)


def test_nothing_to_send_queues_nothing(stub_broker):
    calls: list[int] = []
    result = send_bulk("new_post", iter(()), POST, progress=calls.append)
    assert (result.queued, result.rejected, calls) == (0, 0, [])


@pytest.mark.parametrize("name", ["post:9\nann@example.com", "", "zoë@example.com"])
def test_key_derived_ids_are_uuid5(name):
    assert message_parts.uuid5(bulk._IDS, name) == str(uuid.uuid5(bulk._IDS, name))


@pytest.mark.parametrize(
    "address", ["ann@example.com", 'Q "Quote" <q@example.com>', "Zoë <z@example.com>", "a\\b"]
)
def test_an_address_is_encoded_as_json_would(address):
    assert json.loads(message_parts.json_list(address)) == [address]


def test_a_duplicate_row_is_skipped_and_counted_apart_from_the_rejected(stub_broker):
    rows = ["ann@example.com", "Ann <ANN@example.com>", "not an address", "bob@example.com"]
    result = send_bulk("new_post", rows, POST)
    assert (result.queued, result.duplicates, result.rejected) == (2, 1, 1)
    assert [m.args[0]["to"] for m in queued(stub_broker)] == [
        ["ann@example.com"],
        ["bob@example.com"],
    ]
