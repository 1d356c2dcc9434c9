"""One actor per email type, each with its own priority, retries and backoff.

Adding a type is a template folder plus one line below. Template folders the application
adds under ``MAILER_TEMPLATES_DIR`` without a line here are declared at ``normal`` priority,
in the web process and the worker alike, so both agree on their actors.

Types a person asked for themselves are declared ``transactional``: the suppression list
does not stop them and they carry no unsubscribe link (see ``mailer.stores.suppression``).

Each actor hands its message to ``mailer.worker.send``, which does the work. Transient send
errors retry with exponential backoff; permanent ones and render errors are in the actors'
``throws``, so the message fails at once and lands in the dead-letter queue. A provider's
throttling is neither: the message is put back for later with its retries intact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from mailer import settings
from mailer.actors.email_types import (
    EMAIL_TYPES,
    EmailType,
    lookup,
    sensitive_keys,
    validated_sensitive,
)
from mailer.backends import backend_class
from mailer.envelope import Email
from mailer.errors import PermanentSendError, RenderError, ValidationError
from mailer.masking import DEFAULT_SENSITIVE
from mailer.message import actor_name
from mailer.middleware.news_links import RequireUnsubscribeLinks
from mailer.priorities import LEVELS
from mailer.stores.rate_limiter import limits_for
from mailer.templates import for_settings
from mailer.worker.job import Job
from mailer.worker.send import sender_for

__all__ = ["EMAIL_TYPES", "EmailType", "email_type", "lookup", "news_types", "sensitive_keys"]

logger = logging.getLogger(__name__)

# Input that cannot succeed however often it is tried: the message fails at once.
_NEVER_RETRIED = (PermanentSendError, RenderError, ValidationError)


def email_type(
    name: str,
    *,
    priority: str = "normal",
    max_retries: int = 8,
    min_backoff_ms: int = 15_000,
    max_backoff_ms: int = 3_600_000,
    transactional: bool = False,
    sensitive: Iterable[str] = DEFAULT_SENSITIVE,
    prerendered: bool = False,
) -> EmailType:
    """Declare the actor ``send_<name>`` that renders and sends the ``name`` template (or, if
    ``prerendered``, what its message carries). ``sensitive``: context keys to mask."""
    level = LEVELS[priority]

    def send(envelope: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        message = CurrentMessage.get_current_message()
        assert message is not None, "the CurrentMessage middleware is on mailer's broker"
        email = Email.from_json(envelope)
        email.message_id = message.message_id
        job = Job(message, name, email, context, transactional, actor.options)
        job.prerendered, job.sensitive = prerendered, keys
        sender_for(settings.current()).send(job)

    actor = dramatiq.actor(
        send,
        actor_name=actor_name(name),
        queue_name=level.queue_name,
        priority=level.actor_priority,
        max_retries=max_retries,
        min_backoff=min_backoff_ms,
        max_backoff=max_backoff_ms,
        throws=_NEVER_RETRIED,
        sends_email=True,
    )
    keys = validated_sensitive(sensitive)
    declared = EmailType(name, level, actor, transactional, keys)
    if not prerendered:
        EMAIL_TYPES[name] = declared
    return declared


# Sign-in flows: a user is waiting on these, so they jump every queue and retry hard.
password_reset = email_type(
    "password_reset", priority="critical", max_retries=12, min_backoff_ms=2_000, transactional=True
)
verify_email = email_type(
    "verify_email", priority="critical", max_retries=12, min_backoff_ms=2_000, transactional=True
)
welcome = email_type("welcome", priority="high", min_backoff_ms=5_000, transactional=True)
appointment_confirmation = email_type(
    "appointment_confirmation", priority="high", min_backoff_ms=5_000, transactional=True
)
appointment_reminder = email_type("appointment_reminder", priority="normal", transactional=True)
admin_alert = email_type("admin_alert", priority="normal", transactional=True)
# News: suppressed addresses are skipped, and every email carries a one-click unsubscribe.
new_post = email_type("new_post", priority="low", max_retries=5, min_backoff_ms=60_000)
# Email a Django app rendered itself (``mailer.integrations.django``): its password resets and
# error reports among them, so transactional, and ahead of news. The dot keeps its name apart
# from any template folder's.
django_message = email_type(
    "django.message", priority="high", min_backoff_ms=5_000, transactional=True, prerendered=True
)


def declare_application_types() -> None:
    """A ``normal`` type for each template folder of the app's that has no declaration."""
    for name in for_settings(settings.current()).names():
        if name not in EMAIL_TYPES:
            email_type(name)


def _check_backends(configured: settings.Settings) -> None:
    """Refuse to start, naming the variable, over any backend the settings mention."""
    limits = limits_for(configured)
    shown = ", ".join(f"{bucket}={limit}/s" for bucket, limit in limits.items())
    logger.info("Rate limits: %s.", shown or "none")
    backend_class(configured.backend).check_settings(configured)
    if configured.fallback_backend is not None:
        fallback = backend_class(configured.fallback_backend, "MAILER_FALLBACK_BACKEND")
        fallback.check_settings(configured)
    for name in configured.rate_limits:
        backend_class(name, "MAILER_RATE_LIMITS")


def news_types() -> list[str]:
    """The declared email types that carry an unsubscribe link."""
    return [name for name, declared in EMAIL_TYPES.items() if not declared.transactional]


declare_application_types()
_check_backends(settings.current())
dramatiq.get_broker().add_middleware(RequireUnsubscribeLinks(news_types))
