"""An application's own subscribers, as a worker imports them (``MAILER_EVENT_MODULES``).

``order.paid`` has two: one records the payment in Redis, the other always fails for good.
"""

from __future__ import annotations

from mailer import Event, settings, subscribe
from mailer.errors import PermanentSendError
from mailer.stores import keys as store
from mailer.stores import redis_client

RECORDED = store.key("test", "payments")


@subscribe("order.paid")
def record_payment(event: Event) -> None:
    """Keep the order id, once per delivery of the event."""
    redis_client(settings.current().redis_url).rpush(RECORDED, str(event.payload["order"]))


@subscribe("order.paid", requires=("order",))
def email_invoice(event: Event) -> None:
    """Fails the way a rejected recipient does: permanently."""
    raise PermanentSendError("smtp", "mailbox unavailable", status=550)
