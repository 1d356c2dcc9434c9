"""What a worker does with one email message: render it, then hand it to this thread's backend.

Each worker thread keeps its own backend, so an SMTP connection (or an HTTP session) is
opened once and reused for every message that thread sends, never shared between threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from mailer import settings as mailer_settings
from mailer.backends import Backend, create_backend
from mailer.errors import MailerError, TransientSendError
from mailer.message import Email
from mailer.settings import Settings
from mailer.templates import for_settings

logger = logging.getLogger(__name__)

_local = threading.local()


def deliver(
    template: str, envelope: Mapping[str, Any], context: Mapping[str, Any], message_id: str
) -> str:
    """Render ``template`` into the envelope and send it; returns the provider's message id.

    The sender defaults to this process's ``MAILER_FROM``: the worker's settings are the ones
    the provider knows (a verified SES identity, an SMTP account), not the web process's.
    """
    settings = mailer_settings.current()
    email = Email.from_json(envelope)
    email.from_email = email.from_email or settings.from_email
    email.message_id = message_id
    try:
        rendered = for_settings(settings).render(template, context)
        email.subject, email.html, email.text = rendered.subject, rendered.html, rendered.text
        backend = thread_backend(settings)
        provider_id = backend.send(email)
    except MailerError as err:
        # Dramatiq logs only the exception's type; the reason is what an operator needs.
        retried = isinstance(err, TransientSendError)
        outcome = "will be retried" if retried else "will not be retried"
        logger.warning("Failed %s message %s, %s: %s", template, message_id, outcome, err)
        raise
    logger.info(
        "Sent %s message %s to %d recipient(s) via %s (provider id %s).",
        template,
        message_id,
        len(email.recipients),
        backend.name,
        provider_id,
    )
    return provider_id


def thread_backend(settings: Settings) -> Backend:
    """This thread's backend for ``settings``, created on first use and kept open."""
    backend: Backend | None = getattr(_local, "backend", None)
    if backend is None or backend.settings is not settings:
        close_thread_backend()
        backend = _local.backend = create_backend(settings)
    return backend


def close_thread_backend() -> None:
    backend: Backend | None = getattr(_local, "backend", None)
    _local.backend = None
    if backend is not None:
        backend.close()
