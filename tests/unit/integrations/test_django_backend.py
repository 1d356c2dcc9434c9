"""Django's own mail calls through ``mailer.integrations.django.EmailBackend``, run in the
test's process by the ``outbox`` fixture: what Django built is what mailer sends."""

from __future__ import annotations

from email.mime.text import MIMEText

import pytest

from mailer import delivery_status
from mailer.errors import InvalidAddress, InvalidHeader, InvalidPriority
from tests.support.django_project import ADMIN, SHOP, configure_django

configure_django()

from django.core import mail  # noqa: E402
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection  # noqa: E402


def test_send_mail_with_html_is_queued_and_sent(outbox):
    count = mail.send_mail(
        "Your order",
        "It shipped.",
        None,
        ["ann@example.com"],
        html_message="<p>It <b>shipped</b>.</p>",
    )
    assert count == 1
    [sent] = outbox
    assert sent.template == "django.message"
    assert sent.subject == "Your order"
    assert sent.from_email == SHOP
    assert sent.to == ["ann@example.com"]
    assert sent.text == "It shipped."
    assert sent.html == "<p>It <b>shipped</b>.</p>"


def test_mail_admins_goes_to_the_admins_from_the_server_address(outbox):
    mail.mail_admins("Disk full", "Only 2% left.")
    [sent] = outbox
    assert sent.to == [ADMIN]
    assert sent.subject == "[Shop] Disk full"
    assert sent.from_email == "Errors <errors@example.com>"


def test_every_part_of_a_multi_alternatives_message_survives(outbox):
    message = EmailMultiAlternatives(
        "Invoice 42",
        "See the attached invoice.",
        "Billing <billing@example.com>",
        ["bob@example.com"],
        bcc=["audit@example.com"],
        cc=["Cy <cy@example.com>"],
        reply_to=["help@example.com"],
        headers={"X-Order": "42"},
    )
    message.attach_alternative("<p>See the attached invoice.</p>", "text/html")
    message.attach("invoice.pdf", b"%PDF-1.4 invoice", "application/pdf")
    message.attach("notes.txt", "Paid in full.")
    message.attach(MIMEText("inline part", "plain"))
    assert message.send() == 1
    [sent] = outbox
    assert (sent.to, sent.cc, sent.bcc) == (
        ["bob@example.com"],
        ["Cy <cy@example.com>"],
        ["audit@example.com"],
    )
    assert sent.reply_to == ["help@example.com"]
    assert sent.headers["X-Order"] == "42"
    assert sent.html == "<p>See the attached invoice.</p>"
    pdf, notes, part = sent.attachments
    assert (pdf.filename, pdf.content, pdf.mimetype) == (
        "invoice.pdf",
        b"%PDF-1.4 invoice",
        "application/pdf",
    )
    assert (notes.content, notes.mimetype) == (b"Paid in full.", "text/plain")
    assert (part.content, part.mimetype) == (b"inline part", "text/plain")


def test_an_html_body_gets_a_text_part_in_the_worker(outbox):
    message = EmailMessage(
        "Hi", "<p>Hello <a href='https://example.com'>there</a></p>", to=["ann@example.com"]
    )
    message.content_subtype = "html"
    message.send()
    [sent] = outbox
    assert sent.html.startswith("<p>Hello")
    assert "Hello" in sent.text and "https://example.com" in sent.text


def test_send_messages_counts_what_it_queued(outbox):
    messages = [
        EmailMessage("One", "1", to=["a@example.com"]),
        EmailMessage("Nobody", "0"),  # no recipient: skipped, as Django's backends do
        EmailMessage("Two", "2", to=["b@example.com"]),
    ]
    assert get_connection().send_messages(messages) == 2
    assert [sent.subject for sent in outbox] == ["One", "Two"]


def test_a_message_mailer_refuses_raises_unless_told_to_fail_silently(outbox):
    bad = EmailMessage("Bad", "x", to=["not an address"])
    good = EmailMessage("Good", "y", to=["a@example.com"])
    with pytest.raises(InvalidAddress):
        get_connection().send_messages([good, bad])
    assert len(outbox) == 0  # nothing queued: the batch is all or none
    assert get_connection(fail_silently=True).send_messages([good, bad]) == 1
    assert [sent.subject for sent in outbox] == ["Good"]


def test_headers_mailer_builds_itself_are_refused_and_from_is_kept(outbox):
    with pytest.raises(InvalidHeader, match="Message-ID"):
        EmailMessage("x", "y", to=["a@example.com"], headers={"Message-ID": "<1@x>"}).send()
    EmailMessage(
        "x", "y", to=["a@example.com"], headers={"From": "Sales <sales@example.com>"}
    ).send()
    assert outbox[0].from_email == "Sales <sales@example.com>"


def test_priority_per_connection(outbox):
    connection = get_connection(priority="critical")
    EmailMessage("Reset", "z", to=["a@example.com"], connection=connection).send()
    assert delivery_status(outbox[0].message_id).queue_name == "mailer_critical"
    with pytest.raises(InvalidPriority):
        EmailMessage(
            "x", "y", to=["a@example.com"], connection=get_connection(priority="urgent")
        ).send()
