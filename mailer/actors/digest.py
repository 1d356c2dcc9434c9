"""``send_failure_digest``: once a day, one email to the administrators about failed sends.

The scheduler (``periodiq mailer.actors``) enqueues it on ``MAILER_DIGEST_CRON``; it can also
be sent by hand, which periodiq lets through. It only reads the failure log and enqueues an
``admin_alert`` email, so the digest itself is rendered, sent, retried and, should it fail,
recorded like any other email. Its words are ``digest_text``'s.
"""

from __future__ import annotations

import logging
import time

import dramatiq
from periodiq import CronSpec, cron

from mailer import settings, stores
from mailer.actors import emails
from mailer.actors.digest_text import digest_context
from mailer.envelope import Email
from mailer.errors import ConfigurationError
from mailer.priorities import LEVELS

logger = logging.getLogger(__name__)

WINDOW_H = 24
_warned_no_admins = False


def _schedule(spec: str) -> CronSpec:
    """The cron spec, or a ``ConfigurationError`` naming the variable that holds it."""
    try:
        return cron(spec)
    except (ValueError, IndexError, KeyError) as err:
        raise ConfigurationError("MAILER_DIGEST_CRON", f"{spec!r} is not a cron spec") from err


@dramatiq.actor(
    actor_name="send_failure_digest",
    queue_name=LEVELS["normal"].queue_name,
    priority=LEVELS["normal"].actor_priority,
    max_retries=0,
    periodic=_schedule(settings.current().digest_cron),
)
def send_failure_digest() -> None:
    """Email the last day's failures to ``MAILER_ADMIN_EMAILS``, if there were any."""
    config = settings.current()
    if not config.admin_emails:
        _warn_no_admins()
        return
    failure_log = stores.for_settings(config).failure_log
    context = digest_context(failure_log.since(time.time() - WINDOW_H * 3600), hours=WINDOW_H)
    if context is None:
        logger.info("No failed sends in the last %d h: no failure digest to send.", WINDOW_H)
        return
    envelope = Email(to=list(config.admin_emails), from_email="", tags=["admin_alert"])
    message = emails.lookup("admin_alert").actor.send(envelope.to_json(), context)
    logger.info(
        "Queued the failure digest (%s) for %d administrator(s) as message %s.",
        context["subject"],
        len(config.admin_emails),
        message.message_id,
    )


def _warn_no_admins() -> None:
    """Once per process: the setting will not change until the worker restarts."""
    global _warned_no_admins
    if not _warned_no_admins:
        _warned_no_admins = True
        logger.warning("MAILER_ADMIN_EMAILS is not set: the failure digest is not sent.")
