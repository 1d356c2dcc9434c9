"""SES's and SendGrid's events, each made one of mailer's statuses."""

from __future__ import annotations

import json

import pytest

from mailer.provider_events import ses
from mailer.provider_events.sendgrid import events as sendgrid_events
from tests.support.provider_signing import sendgrid_event, ses_event


def read_ses(event):
    return ses.event(json.dumps(event), event_id="sns-1", at=1.0)


def test_a_permanent_bounce_suppresses_its_recipient_and_a_transient_one_does_not():
    hard = read_ses(
        ses_event(
            "Bounce",
            "ses-1",
            "ann@example.com",
            message_id="m-1",
            bounceType="Permanent",
            bounceSubType="General",
            bouncedRecipients=[{"emailAddress": "ann@example.com", "diagnosticCode": "550 no"}],
        )
    )
    assert (hard.status, hard.suppress, hard.recipients) == (
        "bounced",
        "bounced",
        ("ann@example.com",),
    )
    assert (hard.message_id, hard.provider_id, hard.event_id) == ("m-1", "ses-1", "sns-1")
    assert hard.detail == "Permanent/General: 550 no"
    soft = read_ses(
        ses_event(
            "Bounce",
            "ses-1",
            "ann@example.com",
            bounceType="Transient",
            bouncedRecipients=[{"emailAddress": "ann@example.com"}],
        )
    )
    assert (soft.status, soft.suppress, soft.message_id) == ("bounced", None, None)


@pytest.mark.parametrize(
    ("kind", "part", "status", "suppress"),
    [
        (
            "Complaint",
            {"complainedRecipients": [{"emailAddress": "ann@example.com"}]},
            "complained",
            "complained",
        ),
        ("Delivery", {"recipients": ["ann@example.com"]}, "delivered", None),
        ("Reject", {"reason": "Bad content"}, "rejected", None),
        ("DeliveryDelay", {"delayType": "MailboxFull"}, "deferred", None),
        ("Open", {"ipAddress": "192.0.2.1"}, "opened", None),
        ("Click", {"link": "https://example.com/p"}, "clicked", None),
    ],
)
def test_each_ses_event_kind_has_its_status(kind, part, status, suppress):
    event = read_ses(ses_event(kind, "ses-1", "ann@example.com", **part))
    assert (event.status, event.suppress, event.recipients) == (
        status,
        suppress,
        ("ann@example.com",),
    )


def test_ses_kinds_mailer_does_not_track_are_skipped_and_identity_notifications_read():
    assert read_ses(ses_event("Send", "ses-1", "ann@example.com")) is None
    notification = ses_event("Delivery", "ses-1", "ann@example.com")
    notification["notificationType"] = notification.pop("eventType")
    assert read_ses(notification).status == "delivered"


def test_sendgrid_events_are_normalised_and_the_untracked_skipped():
    batch = [
        sendgrid_event("processed", "ann@example.com"),
        sendgrid_event(
            "delivered", "ann@example.com", sg_message_id="abc.filter-1.2", mailer_message_id="m-1"
        ),
        sendgrid_event("bounce", "bob@example.com", type="bounce", reason="550 unknown user"),
        sendgrid_event("bounce", "cy@example.com", type="blocked", reason="421 try later"),
        sendgrid_event("dropped", "dee@example.com", reason="Bounced Address"),
        sendgrid_event("spamreport", "eve@example.com"),
        sendgrid_event("deferred", "fay@example.com", response="451 greylisted"),
        sendgrid_event("open", "ann@example.com"),
        sendgrid_event("click", "ann@example.com", url="https://example.com/p"),
        sendgrid_event("delivered", "ann@example.com", mailer_message_id="m:1 not an id"),
    ]
    found = list(sendgrid_events(json.dumps(batch).encode()))
    assert [(e.status, e.suppress) for e in found] == [
        ("delivered", None),
        ("bounced", "bounced"),
        ("bounced", None),
        ("rejected", None),
        ("complained", "complained"),
        ("deferred", None),
        ("opened", None),
        ("clicked", None),
        ("delivered", None),
    ]
    assert (found[0].provider_id, found[0].message_id) == ("abc", "m-1")
    assert found[1].detail == "550 unknown user"
    assert found[-1].message_id is None
    assert len({e.event_id for e in found}) == len(found)
