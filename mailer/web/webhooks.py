"""``/webhooks/ses`` and ``/webhooks/sendgrid``: what the providers report after a send.

Both sit outside the dashboard's login, as a provider cannot log in: the signature is the
credential. A request that is unsigned, badly signed, too old (``MAILER_WEBHOOK_MAX_AGE``) or
seen before is refused with a 4xx and changes nothing; a Redis outage answers 503, which both
providers retry. Each is also a WSGI app of its own, for a server that runs only them::

    gunicorn 'mailer.web.webhooks:ses'      # or :sendgrid, configured from the environment

SES: a configuration set publishes events to an SNS topic with an HTTPS subscription to
``/webhooks/ses``. The subscription is confirmed by fetching its ``SubscribeURL``, which must be
SNS's own (``mailer.provider_events.sns``). SendGrid: the Event Webhook posts to
``/webhooks/sendgrid`` with "Signed Event Webhook" on, checked with
``MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY``; without that key the endpoint answers 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import redis

from mailer.errors import ConfigurationError
from mailer.provider_events import RefusedEvent
from mailer.provider_events import sendgrid as sendgrid_events
from mailer.provider_events.sns import SNSVerifier
from mailer.settings import Settings
from mailer.stores import redis_client
from mailer.stores.delivery_events import DeliveryEvents
from mailer.web.built_on_first_request import BuiltOnFirstRequest
from mailer.web.http import Environ, Request, Response, StartResponse, WSGIApp, text
from mailer.web.sns_handling import SNSHandler
from mailer.web.webhook_age import CLOCK_SKEW_S, check_age

__all__ = ["SENDGRID_PATH", "SES_PATH", "sendgrid", "sendgrid_app", "ses", "ses_app"]

logger = logging.getLogger(__name__)

SES_PATH = "/webhooks/ses"
SENDGRID_PATH = "/webhooks/sendgrid"
#: SendGrid posts batches of up to about a thousand events, well under a megabyte.
MAX_BODY_BYTES = 4 * 1024 * 1024

Handler = Callable[[Request, bytes], Response]


def delivery_events(settings: Settings) -> DeliveryEvents:
    return DeliveryEvents(redis_client(settings.redis_url), retention_s=settings.log_retention_s)


def ses_app(settings: Settings, verifier: SNSVerifier | None = None) -> WSGIApp:
    """The SNS endpoint for SES's events, on ``settings``."""
    verifier = verifier or SNSVerifier(
        trusted_url_prefix=settings.sns_trusted_url, topic_arns=settings.sns_topic_arns
    )
    handler = SNSHandler(verifier, delivery_events(settings), settings.webhook_max_age_s)
    return _endpoint("ses", lambda request, body: handler.respond(body))


def sendgrid_app(settings: Settings) -> WSGIApp:
    """The Event Webhook endpoint; ``ConfigurationError`` if the public key cannot be read."""
    if not settings.sendgrid_webhook_public_key:
        return text(503, "This endpoint needs MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY to be set.\n")
    try:
        key = sendgrid_events.load_public_key(settings.sendgrid_webhook_public_key)
    except ValueError as err:
        raise ConfigurationError("MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY", str(err)) from None
    verifier = sendgrid_events.SendGridVerifier(key)
    events = delivery_events(settings)
    max_age_s = settings.webhook_max_age_s

    def respond(request: Request, body: bytes) -> Response:
        signature = request.header(sendgrid_events.SIGNATURE_HEADER) or ""
        timestamp = request.header(sendgrid_events.TIMESTAMP_HEADER) or ""
        verifier.verify(body, signature, timestamp)
        check_age(_seconds(timestamp), max_age_s)
        batch = list(sendgrid_events.events(body))
        applied = events.apply(
            batch, request="sendgrid:" + signature[:200], request_ttl_s=max_age_s + CLOCK_SKEW_S
        )
        if applied is None:
            raise RefusedEvent("this request was received before", status=409)
        logger.debug("SendGrid events: %s", applied)
        return text(200, f"{applied.applied} applied, {applied.duplicates} seen before.\n")

    return _endpoint("sendgrid", respond)


def _seconds(timestamp: str) -> float:
    try:
        return float(timestamp)
    except ValueError:
        raise RefusedEvent("the timestamp is not a number") from None


def _endpoint(provider: str, handler: Handler) -> WSGIApp:
    """POST only; the body read in full (bounded); refusals and Redis outages answered."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.method != "POST":
            refusal = text(405, "Method not allowed.\n")
            refusal.headers.append(("Allow", "POST"))
            return refusal(environ, start_response)
        return _answer(provider, handler, request)(environ, start_response)

    return app


def _answer(provider: str, handler: Handler, request: Request) -> Response:
    try:
        return handler(request, _body(request))
    except RefusedEvent as err:
        logger.warning("Refused a %s webhook request: %s.", provider, err.problem)
        return text(err.status, f"Refused: {err.problem}.\n")
    except redis.RedisError as err:
        logger.warning("A %s webhook request met a Redis error: %s.", provider, err)
        return text(503, "Redis is unavailable; send again later.\n")


def _body(request: Request) -> bytes:
    try:
        length = int(request.environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        raise RefusedEvent("no body, or no Content-Length", status=411)
    if length > MAX_BODY_BYTES:
        raise RefusedEvent(f"the body is over {MAX_BODY_BYTES} bytes", status=413)
    body: bytes = request.environ["wsgi.input"].read(length)
    return body


ses = BuiltOnFirstRequest(ses_app)
sendgrid = BuiltOnFirstRequest(sendgrid_app)
