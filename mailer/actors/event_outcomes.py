"""What each subscriber's run made of an event, for the dashboard's events page.

Written from the subscriber's own actor call, after its handler returned or raised; the
verdict ``retrying`` or ``dead`` is the one Dramatiq's retries will reach
(``mailer.worker.retry_policy``). Bookkeeping only: a write Redis refuses is logged, and the
handler's outcome stands.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
from dramatiq.middleware import CurrentMessage

from mailer import settings, stores
from mailer.stores.event_log import EventLog
from mailer.worker.retry_policy import is_final

logger = logging.getLogger(__name__)


def done(event: Mapping[str, Any], name: str) -> None:
    _write(event, name, "done", None)


def failed(
    event: Mapping[str, Any], name: str, actor_options: Mapping[str, Any], error: BaseException
) -> None:
    message = CurrentMessage.get_current_message()
    final = message is not None and is_final(message, actor_options, error)
    _write(event, name, "dead" if final else "retrying", f"{type(error).__name__}: {error}")


def _write(event: Mapping[str, Any], name: str, status: str, error: str | None) -> None:
    message = CurrentMessage.get_current_message()
    event_id = str(event.get("id", ""))
    if message is None or not event_id:
        return
    try:
        log = EventLog(stores.for_settings(settings.current()).client)
        log.outcome(event_id, name, message.message_id, status, error)
    except redis.RedisError as err:
        logger.warning("Could not record %s's outcome of event %s: %s", name, event_id, err)
