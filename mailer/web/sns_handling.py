"""What ``/webhooks/ses`` does with one checked SNS message: confirm, or apply its event.

SNS sends ``SubscriptionConfirmation`` first; fetching its ``SubscribeURL`` confirms the
subscription (only SNS's own URLs are fetched). Then each ``Notification`` holds one SES event.
SNS's ``MessageId`` is both the request's replay mark and the event's id, so a message SNS
delivers twice, or a forger replays, is applied once.
"""

from __future__ import annotations

import logging

from mailer.provider_events import RefusedEvent, ses
from mailer.provider_events.sns import SNSVerifier, timestamp_s
from mailer.stores.delivery_events import DeliveryEvents
from mailer.web.http import Response, text
from mailer.web.webhook_age import CLOCK_SKEW_S, check_age

logger = logging.getLogger(__name__)


class SNSHandler:
    def __init__(self, verifier: SNSVerifier, events: DeliveryEvents, max_age_s: int) -> None:
        self.verifier = verifier
        self.events = events
        self.max_age_s = max_age_s

    def respond(self, body: bytes) -> Response:
        envelope = self.verifier.envelope(body)
        signed_at_s = timestamp_s(envelope)
        check_age(signed_at_s, self.max_age_s)
        kind = envelope["Type"]
        if kind == "Notification":
            return self._notification(envelope, signed_at_s)
        if kind == "SubscriptionConfirmation":
            return self._confirm(envelope)
        logger.info("SNS ended the subscription to %s.", envelope.get("TopicArn"))
        return text(200, "Noted.\n")

    def _notification(self, envelope: dict[str, str], signed_at_s: float) -> Response:
        message_id = envelope.get("MessageId", "")
        if not message_id:
            raise RefusedEvent("the SNS message has no MessageId")
        event = ses.event(envelope.get("Message", ""), event_id=message_id, at=signed_at_s)
        applied = self.events.apply(
            [] if event is None else [event],
            request="sns:" + message_id[:100],
            request_ttl_s=self.max_age_s + CLOCK_SKEW_S,
        )
        if applied is None:
            raise RefusedEvent("this SNS message was received before", status=409)
        return text(200, "Applied.\n" if applied.applied else "Noted.\n")

    def _confirm(self, envelope: dict[str, str]) -> Response:
        url = envelope.get("SubscribeURL", "")
        if not self.verifier.trusted(url):
            raise RefusedEvent("SubscribeURL is not an SNS URL")
        try:
            self.verifier.fetch(url)
        except OSError as err:
            logger.warning("Could not confirm the SNS subscription: %s.", err)
            return Response(502, b"Could not reach SNS to confirm.\n", "text/plain")
        logger.info("Confirmed the SNS subscription to %s.", envelope.get("TopicArn"))
        return text(200, "Subscription confirmed.\n")
