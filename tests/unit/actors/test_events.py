"""The event bus on a StubBroker: publish, subscribers as their own actors, the ready flows."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from mailer import Event, publish, scheduled_email, settings, subscribe
from mailer.api import inbox
from mailer.backends import memory
from mailer.cli.main import main
from mailer.errors import (
    ConfigurationError,
    InvalidPayload,
    PermanentSendError,
    UnknownTopic,
    ValidationError,
)
from mailer.settings import Settings
from tests.support.brokers import dead_letters, drain
from tests.support.subscribers import own_subscribers


@pytest.fixture(autouse=True)
def each_tests_subscribers(mailer_settings: Settings) -> Iterator[None]:
    """Each test declares its own subscribers; the registry is put back afterwards."""
    with own_subscribers():
        yield


def test_every_subscriber_gets_the_event_once(stub_broker, stub_worker):
    seen: list[tuple[str, Event]] = []

    @subscribe("order.paid")
    def bill(event: Event) -> None:
        seen.append(("bill", event))

    @subscribe("order.paid")
    def ship(event: Event) -> None:
        seen.append(("ship", event))

    event_id = publish("order.paid", {"order": 7})
    drain(stub_broker, stub_worker)
    assert sorted(name for name, _ in seen) == ["bill", "ship"]
    assert {e.id for _, e in seen} == {event_id}
    assert all(e.payload == {"order": 7} and e.topic == "order.paid" for _, e in seen)


def test_a_failing_subscriber_neither_stops_nor_repeats_the_others(
    stub_broker, stub_worker, fast_retries
):
    calls = {"steady": 0, "flaky": 0, "broken": 0}

    @subscribe("order.paid")
    def steady(event: Event) -> None:
        calls["steady"] += 1

    @subscribe("order.paid", min_backoff_ms=10, max_backoff_ms=50)
    def flaky(event: Event) -> None:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionError("the warehouse API is down")

    @subscribe("order.paid")
    def broken(event: Event) -> None:
        calls["broken"] += 1
        raise PermanentSendError("smtp", "mailbox unavailable", status=550)

    publish("order.paid", {"order": 7})
    drain(stub_broker, stub_worker)
    assert calls == {"steady": 1, "flaky": 3, "broken": 1}
    [dead] = dead_letters(stub_broker)
    assert dead.actor_name == "on_order_paid__broken"


def test_nobody_listening_is_an_error_and_nothing_is_queued(stub_broker):
    with pytest.raises(UnknownTopic, match=r"nobody subscribes to 'order\.payed'"):
        publish("order.payed", {"order": 7})
    assert all(not queue.qsize() for queue in stub_broker.queues.values())


def test_a_ready_flow_left_off_is_named_in_the_error(stub_broker):
    with pytest.raises(UnknownTopic, match="ready flow: add it to MAILER_FLOWS"):
        publish("user.registered", {"email": "ann@example.com"})


def test_nobody_listening_can_be_a_logged_no_op(mailer_settings, stub_broker, caplog):
    settings.configure(dataclasses.replace(mailer_settings, unknown_topics="ignore"))
    with caplog.at_level(logging.WARNING):
        event_id = publish("order.paid", {})
    assert event_id in caplog.text and "nobody subscribes" in caplog.text


@pytest.mark.parametrize(
    ("topic", "payload", "error"),
    [
        ("Order Paid", {}, ValidationError),
        ("order.paid", ["not", "a", "mapping"], InvalidPayload),
        ("order.paid", {"when": datetime.now()}, InvalidPayload),
        ("order.paid", {"n": float("nan")}, InvalidPayload),
        ("order.paid", {"blob": "x" * 70_000}, InvalidPayload),
    ],
)
def test_bad_input_is_refused_before_anything_is_queued(stub_broker, topic, payload, error):
    subscribe("order.paid", name="noop")(lambda event: None)
    with pytest.raises(error):
        publish(topic, payload)
    assert all(not queue.qsize() for queue in stub_broker.queues.values())


def test_a_payload_missing_what_one_subscriber_requires_reaches_none(stub_broker):
    subscribe("order.paid", name="noop")(lambda event: None)
    subscribe("order.paid", name="receipt", requires=("email",))(lambda event: None)
    with pytest.raises(InvalidPayload, match="receipt needs email"):
        publish("order.paid", {"order": 7})
    assert all(not queue.qsize() for queue in stub_broker.queues.values())


def test_the_same_key_publishes_once(stub_broker, stub_worker):
    calls: list[str] = []
    subscribe("order.paid", name="count")(lambda event: calls.append(event.id))
    first = publish("order.paid", {"order": 8}, key="order:8:paid")
    assert publish("order.paid", {"order": 8}, key="order:8:paid") == first
    drain(stub_broker, stub_worker)
    assert calls == [first]


def test_two_subscribers_may_not_share_a_name(stub_broker):
    subscribe("order.paid", name="twice")(lambda event: None)
    with pytest.raises(ConfigurationError, match="twice"):
        subscribe("order.refunded", name="twice")(lambda event: None)


# --- the ready flows ----------------------------------------------------------------------


@pytest.fixture
def flows_on(mailer_settings: Settings, stub_broker) -> Settings:
    from mailer import stock_flows as flows

    configured = dataclasses.replace(
        mailer_settings,
        admin_users=("admin-1", "admin-2"),
        users_source="tests.support.users:all_user_ids",
        newsletter_source="tests.support.users:newsletter_subscribers",
    )
    settings.configure(configured)
    flows.switch_on(tuple(flows.FLOWS))
    return configured


@pytest.fixture
def clean_inboxes(mailer_settings: Settings) -> None:
    from mailer.stores import keys, redis_client

    client = redis_client(settings.current().redis_url)
    for key in client.scan_iter(match=keys.key("notifications", "*")):
        client.delete(key)


def test_user_registered_welcomes_the_user_and_tells_the_admins(
    flows_on, stub_worker, stub_broker, clean_inboxes
):
    publish("user.registered", {"user_id": 42, "email": "ann@example.com", "name": "Ann"})
    drain(stub_broker, stub_worker)
    [welcome] = memory.sent()
    assert welcome.to == ["ann@example.com"] and "Ann" in welcome.subject
    for admin in ("admin-1", "admin-2"):
        [note] = inbox.notifications(admin).items
        assert note.title == "New user: Ann" and note.body == "ann@example.com"
        assert note.kind == "user.registered"


def test_appointment_created_confirms_reminds_and_tells_the_staff(
    flows_on, stub_worker, stub_broker, clean_inboxes
):
    starts_at = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    publish(
        "appointment.created",
        {
            "appointment_id": 4521,
            "email": "ann@example.com",
            "name": "Ann",
            "service": "Haircut",
            "starts_at": starts_at.isoformat(),
            "staff_user_ids": ["sam"],
        },
    )
    drain(stub_broker, stub_worker)
    [confirmation] = memory.sent()
    assert confirmation.tags == ["appointment_confirmation"]
    reminder = scheduled_email("appointment:4521:reminder")
    assert reminder is not None and reminder.at == starts_at - timedelta(hours=24)
    [note] = inbox.notifications("sam").items
    assert note.title == "New appointment: Haircut with Ann"
    assert inbox.notifications("admin-1").items == []


def test_appointment_created_without_a_timezone_is_refused_at_publish(flows_on, stub_broker):
    payload = {"appointment_id": 1, "email": "a@example.com", "name": "A", "service": "S"}
    with pytest.raises(InvalidPayload, match="timezone"):
        publish("appointment.created", {**payload, "starts_at": "2030-01-01T10:00:00"})


def test_post_published_notifies_every_user_and_mails_subscribers(
    flows_on, stub_worker, stub_broker, clean_inboxes
):
    publish(
        "post.published",
        {"post_id": 9, "title": "Spring", "url": "https://example.com/p/9", "excerpt": "E"},
    )
    drain(stub_broker, stub_worker)
    newsletters = memory.sent()
    assert sorted(email.recipients[0] for email in newsletters) == [
        f"reader{n}@example.com" for n in range(3)
    ]
    assert all(email.tags == ["new_post"] for email in newsletters)
    for n in range(5):
        [note] = inbox.notifications(f"user-{n}").items
        assert note.title == "New post: Spring" and note.url == "https://example.com/p/9"


def test_a_flow_that_does_not_exist_is_a_configuration_error():
    from mailer import stock_flows as flows

    with pytest.raises(ConfigurationError, match="MAILER_FLOWS"):
        flows.switch_on(("user.deleted",))


def test_the_publish_hint_knows_the_topics_the_ready_flows_have():
    """``mailer.api.events`` keeps the ready flows' topics as data, below the module that
    declares them: the two lists must not drift apart."""
    from mailer import stock_flows as flows
    from mailer.api.events import READY_FLOW_TOPICS

    assert frozenset(flows.FLOWS) == READY_FLOW_TOPICS


def test_the_events_command_lists_subscribers_and_flows_off(capsys):
    subscribe("order.paid", name="bill", requires=("order",))(lambda event: None)
    assert main(["events"]) == 0
    out = capsys.readouterr().out
    assert "order.paid" in out and "bill" in out and "mailer_normal" in out
    assert "not switched on (MAILER_FLOWS): appointment.created, post.published" in out
