"""Django's own ``send_mail`` and ``mail_admins`` with ``EMAIL_BACKEND`` set to mailer's: the
test process queues on the suite's Redis, a real ``dramatiq mailer.actors`` worker sends over
SMTP, retrying what the server turns away, and the server (aiosmtpd) gets the messages Django
built, logged as sent."""

from __future__ import annotations

import pytest

from mailer import search_deliveries
from tests.support.django_project import ADMIN, SHOP, configure_django
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration


def test_send_mail_and_mail_admins_arrive_through_a_worker(smtp_sink, start_worker):
    configure_django()
    from django.core import mail

    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": SHOP})
    smtp_sink.script(["451 4.3.0 Try again later"])  # the first try fails: mailer retries it

    sent = mail.send_mail(
        "Your order shipped",
        "It is on its way.",
        None,
        ["Ann Example <ann@example.com>"],
        html_message="<p>It is <b>on its way</b>.</p>",
    )
    mail.mail_admins("Disk full", "Only 2% left on /var.")
    assert sent == 1

    received = {each.message["Subject"]: each for each in smtp_sink.wait_for(2)}
    order = received["Your order shipped"]
    assert order.mail_from == "shop@example.com"
    assert order.rcpt_tos == ["ann@example.com"]
    assert order.message["From"] == SHOP
    html, text = order.message.get_body(("html",)), order.message.get_body(("plain",))
    assert html is not None and "<b>on its way</b>" in html.get_content()
    assert text is not None and text.get_content().strip() == "It is on its way."
    admins = received["[Shop] Disk full"]
    assert admins.rcpt_tos == [ADMIN]
    assert admins.mail_from == "errors@example.com"

    def both_logged_sent() -> bool:
        logged = search_deliveries(template="django.message")
        return len(logged) == 2 and all(each.status == "sent" for each in logged)

    assert wait_until(both_logged_sent), worker.log()
    attempts = sorted(len(each.attempts) for each in search_deliveries(template="django.message"))
    assert attempts == [1, 2]  # the one the server turned away went again
    assert smtp_sink.attempts == 3
