"""A ready flow as an app's test sees it through the ``outbox`` fixture: the booking's
confirmation at once, the staff's notification, and the reminder when the clock reaches it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from mailer import cancel_scheduled, publish
from tests.support.subscribers import own_subscribers


@pytest.fixture
def flow_subscribers() -> Iterator[None]:
    """The flow's subscribers are this test's; the registry and the broker are put back."""
    with own_subscribers():
        yield


def book(appointment_id: int, starts_at: datetime) -> None:
    publish(
        "appointment.created",
        {
            "appointment_id": appointment_id,
            "email": "ann@example.test",
            "name": "Ann",
            "service": "Haircut",
            "starts_at": starts_at.isoformat(),
            "staff_user_ids": ["sam"],
        },
    )


def test_a_booking_is_confirmed_now_and_reminded_a_day_before(flow_subscribers, outbox):
    from mailer import stock_flows

    stock_flows.switch_on(("appointment.created",))
    starts_at = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    book(4521, starts_at)

    [confirmation] = outbox
    assert confirmation.template == "appointment_confirmation"
    assert confirmation.context["starts_at"] == starts_at.isoformat()
    [note] = outbox.notifications("sam")
    assert note.title == "New appointment: Haircut with Ann"

    outbox.advance(days=1, hours=23)
    assert len(outbox) == 1
    outbox.advance(hours=1, minutes=1)
    assert [email.template for email in outbox] == [
        "appointment_confirmation",
        "appointment_reminder",
    ]
    assert outbox[1].to == ["ann@example.test"]

    book(4522, starts_at + timedelta(days=7))
    cancel_scheduled("appointment:4522:reminder")
    outbox.advance(days=30)
    assert [email.template for email in outbox][-1] == "appointment_confirmation"
