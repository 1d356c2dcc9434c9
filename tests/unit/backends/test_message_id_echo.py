"""SES and SendGrid sends carry mailer's message id, which their events echo back."""

from __future__ import annotations

from mailer.backends import sendgrid, ses
from mailer.envelope import Email


def email(**fields) -> Email:
    return Email(to=["ann@example.com"], from_email="shop@example.com", subject="Hi", **fields)


def test_a_sendgrid_send_carries_the_message_id_as_a_custom_argument_beside_the_metadata():
    body = sendgrid.payload(email(message_id="m-1", metadata={"order": "42"}))
    assert body["custom_args"] == {"order": "42", "mailer_message_id": "m-1"}
    assert "custom_args" not in sendgrid.payload(email())


def test_an_ses_send_carries_the_message_id_as_a_tag_which_metadata_cannot_replace():
    request = ses._request(
        email(message_id="m-1", tags=["news"], metadata={"mailer_message_id": "forged"}), None
    )
    assert request["EmailTags"] == [
        {"Name": "news", "Value": "true"},
        {"Name": "mailer_message_id", "Value": "m-1"},
    ]
    many = email(message_id="m-1", tags=[f"t{n}" for n in range(60)])
    tags = ses._request(many, None)["EmailTags"]
    assert len(tags) == 50 and tags[-1] == {"Name": "mailer_message_id", "Value": "m-1"}
