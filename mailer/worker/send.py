"""What a worker does with one email message: render it, send it, and write down that it went.

By the time ``deliver`` runs, the middleware has checked that no receipt exists for the
message and claimed it. ``deliver`` asks the failover circuit which backend to use, renders,
takes a rate-limit slot for that backend, sends, tells the circuit how it went, and writes
the receipt before Dramatiq acks the message, so a redelivered copy is never sent again.

Each worker thread keeps its own backends, so an SMTP connection (or an HTTP session) is
opened once and reused for every message that thread sends, never shared between threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import dramatiq
from dramatiq.middleware import SkipMessage

from mailer import settings as mailer_settings
from mailer.backends import Backend, create_backend
from mailer.envelope import Email
from mailer.errors import (
    MailerError,
    PermanentSendError,
    SendError,
    Throttled,
    TransientSendError,
)
from mailer.middleware.rate_limit import RateLimit
from mailer.middleware.send_once import SendOnce
from mailer.middleware.shutdown import provider_call
from mailer.settings import Settings
from mailer.stores import delivery_log as deliveries
from mailer.stores import failover, suppression
from mailer.stores.delivery_log import Attempt
from mailer.stores.receipts import Receipt
from mailer.templates import for_settings
from mailer.unsubscribe import list_headers, unsubscribe_url

logger = logging.getLogger(__name__)

_local = threading.local()


def deliver(
    template: str,
    envelope: Mapping[str, Any],
    context: Mapping[str, Any],
    message: dramatiq.Message[Any],
    *,
    transactional: bool = False,
) -> Receipt:
    """Render ``template`` into the envelope, send it and record the provider's confirmation.

    The sender defaults to this process's ``MAILER_FROM``: the worker's settings are the ones
    the provider knows (a verified SES identity, an SMTP account), not the web process's.
    Raises ``Deferred`` when the rate limit is full or the provider throttles: the message
    waits, it does not fail. Unless the type is ``transactional``, suppressed recipients are
    dropped first (``SkipMessage`` when none of ``to`` is left) and the email gets its
    one-click unsubscribe link.
    """
    settings = mailer_settings.current()
    message_id = message.message_id
    email = Email.from_json(envelope)
    email.from_email = email.from_email or settings.from_email
    email.message_id = message_id
    if not transactional:
        context = _for_subscribers(settings, template, email, context, message_id)
    backend_name = failover.for_settings(settings).choose()
    try:
        rendered = for_settings(settings).render(template, context)
        email.subject, email.html, email.text = rendered.subject, rendered.html, rendered.text
        RateLimit.acquire(message, backend_name)
        provider_id = _send(settings, backend_name, email)
    except Throttled as err:
        logger.warning("Throttled %s message %s: %s", template, message_id, err)
        raise RateLimit.throttled(err) from err
    except MailerError as err:
        # Dramatiq logs only the exception's type; the reason is what an operator needs.
        retried = isinstance(err, TransientSendError)
        outcome = "will be retried" if retried else "will not be retried"
        logger.warning("Failed %s message %s, %s: %s", template, message_id, outcome, err)
        raise
    receipt = SendOnce.record(message_id, backend_name, provider_id)
    logger.info(
        "Sent %s message %s to %d recipient(s) via %s (provider id %s).",
        template,
        message_id,
        len(email.recipients),
        backend_name,
        provider_id,
    )
    return receipt


def _for_subscribers(
    settings: Settings,
    template: str,
    email: Email,
    context: Mapping[str, Any],
    message_id: str,
) -> Mapping[str, Any]:
    """Drop suppressed recipients, then add the unsubscribe link to headers and context."""
    recipients = [*email.to, *email.cc, *email.bcc]
    dropped = suppression.for_settings(settings.redis_url).suppressed(recipients)
    if dropped:
        email.to, email.cc, email.bcc = (
            [a for a in field if a not in dropped] for field in (email.to, email.cc, email.bcc)
        )
    if not email.to:
        _skip_suppressed(settings, template, message_id, sorted(dropped))
    url = unsubscribe_url(settings, email.to[0])
    if url is None:
        return context
    if not any(name.lower() == "list-unsubscribe" for name in email.headers):
        email.headers.update(list_headers(url))  # an app's own unsubscribe header wins
    return {"unsubscribe_url": url, **context}


def _skip_suppressed(
    settings: Settings, template: str, message_id: str, addresses: list[str]
) -> None:
    """Log the message as ``suppressed`` and end it without sending or retrying."""
    note = f"suppressed: {', '.join(addresses)}"
    attempt = Attempt(time.time(), "suppressed", error=note)
    deliveries.for_settings(settings).settled(message_id, template, "suppressed", attempt)
    logger.info("Skipped %s message %s: every recipient is suppressed.", template, message_id)
    raise SkipMessage(note)


def _send(settings: Settings, backend_name: str, email: Email) -> str:
    """One provider call, reported to the failover circuit.

    Transient failures count against the backend; throttling says nothing about it being up
    or down; a permanent refusal proves it is up and answering, as a success does.
    """
    circuit = failover.for_settings(settings)
    try:
        backend = thread_backend(settings, backend_name)
        with provider_call():  # a worker shutting down hands the message back here
            provider_id = backend.send(email)
    except Throttled:
        raise
    except TransientSendError as err:
        circuit.failed(backend_name, str(err))
        _suppress_bounced(settings, err)
        raise
    except PermanentSendError as err:
        circuit.succeeded(backend_name)
        _suppress_bounced(settings, err)
        raise
    circuit.succeeded(backend_name)
    return provider_id


def _suppress_bounced(settings: Settings, err: SendError) -> None:
    """Addresses the provider refused for good get no more news (transactional mail still
    tries them: a typo fixed on the account clears it with ``mailer suppress remove``)."""
    if not err.bounced:
        return
    try:
        suppression.for_settings(settings.redis_url).add(err.bounced, "bounced")
    except Exception as failure:  # bookkeeping must not hide the send's own error
        logger.warning("Could not suppress %s: %s", ", ".join(err.bounced), failure)
        return
    logger.info("Suppressed %s: the provider refused them for good.", ", ".join(err.bounced))


def thread_backend(settings: Settings, name: str | None = None) -> Backend:
    """This thread's backend ``name`` (default: the primary), created on first use, kept open."""
    name = name or settings.backend
    backends: dict[str, Backend] = getattr(_local, "backends", None) or {}
    backend = backends.get(name)
    if backend is None or backend.settings is not settings:
        if backend is not None:
            backend.close()
        backend = backends[name] = create_backend(settings, name)
    _local.backends = backends
    return backend


def close_thread_backend() -> None:
    """Close every backend this thread opened: the primary and, after a failover, the fallback."""
    backends: dict[str, Backend] = getattr(_local, "backends", None) or {}
    _local.backends = {}
    for backend in backends.values():
        backend.close()
