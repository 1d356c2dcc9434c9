"""``notify_users`` and ``broadcast_notification``: in-app notifications for many users at once.

A broadcast becomes batches of 1,000 user ids, each one ``notify_users`` message written in one
Redis transaction, so a broadcast to a million users is a thousand small messages that any
worker can take, not one long job. ``broadcast_notification`` reads the application's users
(``MAILER_USERS_SOURCE``) in the worker, lazily, and queues the batches as it goes.

Retries never notify twice: a batch's key is the broadcast id and its position, and its done
marker is written in the transaction that writes its notifications. A retried broadcast queues
its batches again, and the ones already done are no-ops, provided the source yields the users
in the same order each time (by primary key, say).

Both run on the low queue: a broadcast must never hold up a password reset. They send no email,
so none of the email middleware (receipts, rate limit, delivery log) touches them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dramatiq

from mailer import app_sources, settings, stores
from mailer.argument_checks import check_user_id
from mailer.errors import InvalidUserId
from mailer.priorities import LEVELS
from mailer.settings import Settings
from mailer.stores.inbox import NotificationStore

logger = logging.getLogger(__name__)

BATCH_SIZE = 1_000
_LOW = LEVELS["low"]


@dramatiq.actor(
    actor_name="notify_users",
    queue_name=_LOW.queue_name,
    priority=_LOW.actor_priority,
    max_retries=8,
    min_backoff=5_000,
)
def notify_users(batch_key: str, user_ids: list[str], notification: dict[str, Any]) -> None:
    """Give each user ``notification``, unless this batch was done before."""
    if not inbox_for(settings.current()).add_batch(batch_key, user_ids, notification):
        logger.info("Notification batch %s was done before: nothing to do.", batch_key)


@dramatiq.actor(
    actor_name="broadcast_notification",
    queue_name=_LOW.queue_name,
    priority=_LOW.actor_priority,
    max_retries=8,
    min_backoff=15_000,
)
def broadcast_notification(broadcast_id: str, notification: dict[str, Any]) -> None:
    """Queue ``notify_users`` batches for every user ``MAILER_USERS_SOURCE`` yields."""
    users_source = app_sources.load_source("MAILER_USERS_SOURCE", settings.current().users_source)
    batches = enqueue_batches(broadcast_id, users_source(), notification, skip_invalid=True)
    logger.info("Broadcast %s: queued %d batch(es) of notifications.", broadcast_id, batches)


def enqueue_batches(
    broadcast_id: str,
    user_ids: Iterable[object],
    notification: Mapping[str, Any],
    *,
    skip_invalid: bool = False,
) -> int:
    """Queue ``user_ids`` as ``notify_users`` batches, read lazily; returns how many batches.

    Ids are checked as they are read: with ``skip_invalid`` a bad one is logged and left out,
    since neither stopping half way nor retrying can fix the application's data; without, it
    raises ``InvalidUserId``.
    """
    count = 0
    for count, batch in enumerate(_batches(user_ids, skip_invalid), start=1):
        notify_users.send(f"{broadcast_id}:{count - 1}", batch, dict(notification))
    return count


def inbox_for(config: Settings) -> NotificationStore:
    """The inbox these settings describe: capped per user, dedupe keys kept as long as
    idempotency keys."""
    return stores.for_settings(config).inbox


def _batches(user_ids: Iterable[object], skip_invalid: bool) -> Iterator[list[str]]:
    batch: list[str] = []
    for position, user_id in enumerate(user_ids):
        try:
            batch.append(check_user_id(user_id, f"users[{position}]"))
        except InvalidUserId as err:
            if not skip_invalid:
                raise
            logger.warning("Left out of the broadcast: %s", err)
            continue
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch
