"""The README's appointment recipe, end to end through a real worker.

Booking sends the confirmation at once and schedules the reminder 24 h before; rescheduling
moves the reminder; cancelling removes it. The reminder of a booking made less than a day
ahead is due at once and goes out on the scheduler's next tick, run here by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailer import cancel_scheduled, schedule_email, scheduled_email, send_email
from mailer.actors.schedules import fire_due_schedules

pytestmark = pytest.mark.integration

SENDER = "Acme Studio <bookings@example.com>"


# --- the recipe, as the README gives it --------------------------------------------------


def appointment_context(appointment: dict) -> dict:
    return {
        "name": appointment["name"],
        "service": appointment["service"],
        "starts_at": appointment["starts_at"].isoformat(),
        "location": "12 High Street, Bristol",
        "manage_url": f"https://example.com/bookings/{appointment['id']}",
    }


def reminder_key(appointment: dict) -> str:
    return f"appointment:{appointment['id']}:reminder"


def book(appointment: dict) -> None:
    context = appointment_context(appointment)
    send_email("appointment_confirmation", appointment["email"], context)
    schedule_email(
        "appointment_reminder",
        appointment["email"],
        context,
        at=appointment["starts_at"] - timedelta(hours=24),
        key=reminder_key(appointment),
    )


def reschedule(appointment: dict, starts_at: datetime) -> None:
    appointment["starts_at"] = starts_at
    book(appointment)  # the same key: the reminder moves, nothing is sent twice


def cancel(appointment: dict) -> None:
    cancel_scheduled(reminder_key(appointment))


# --- the test ----------------------------------------------------------------------------


def test_book_reschedule_and_cancel_an_appointment(smtp_sink, start_worker):
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": SENDER})
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ann = {"id": 42, "name": "Ann", "email": "ann@example.com", "service": "Haircut"}
    bob = {"id": 43, "name": "Bob", "email": "bob@example.com", "service": "Shave"}

    ann["starts_at"] = now + timedelta(days=3)
    book(ann)
    [confirmation] = smtp_sink.wait_for(1)
    assert confirmation.message["Subject"] == "Your Haircut appointment is confirmed"
    assert scheduled_email(reminder_key(ann)).at == now + timedelta(days=2)

    reschedule(ann, now + timedelta(days=5))
    assert scheduled_email(reminder_key(ann)).at == now + timedelta(days=4)

    bob["starts_at"] = now + timedelta(hours=2)  # booked less than a day ahead
    book(bob)
    cancel(ann)
    assert scheduled_email(reminder_key(ann)) is None

    smtp_sink.wait_for(3)  # three confirmations: Ann, Ann rescheduled, Bob
    fire_due_schedules.send()
    received = smtp_sink.wait_for(4)
    reminder = received[-1].message
    assert reminder["To"] == "bob@example.com", worker.log()
    assert "Shave" in reminder.get_body(("plain",)).get_content()
    assert scheduled_email(reminder_key(bob)) is None
    assert [r.message["To"] for r in received].count("ann@example.com") == 2
