"""In-app notifications: ``notify`` one user, ``notify_admins``, ``broadcast`` to many, and
read, count and mark a user's inbox.

Everything a caller can get wrong is raised here, typed and naming the argument, before
anything is written or queued. ``notify`` writes straight to Redis, one round trip, so the
notification is on the user's open page within a second, with no worker in between; a
broadcast goes through the worker in batches, since it may reach every user there is.

A browser follows its user's notifications live on the stream endpoint
(``mailer.web.notification_stream``), with the token ``notification_token`` signs for that user.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from mailer import settings as mailer_settings
from mailer import stores
from mailer.api.notification_checks import checked_notification
from mailer.api.redis_errors import maps_broker_errors
from mailer.app_sources import load_source
from mailer.argument_checks import check_key, check_user_id
from mailer.errors import ConfigurationError, InvalidUserId, ValidationError
from mailer.signing import signer_for
from mailer.stores.inbox import (
    STREAM_TOKEN_PURPOSE,
    NotificationPage,
    NotificationStore,
    check_notification_id,
)

MAX_PAGE = 100


@maps_broker_errors
def notify(
    user_id: str | int,
    title: str,
    body: str = "",
    *,
    url: str | None = None,
    kind: str = "info",
    data: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> str:
    """Store a notification for ``user_id`` and return its id.

    ``url`` is where clicking it leads (``https://...`` or a path like ``/orders/42``);
    ``kind`` a short name the app's page styles by; ``data`` any JSON object for its scripts.
    A second call with the same ``key`` within ``MAILER_IDEMPOTENCY_TTL`` stores nothing and
    returns the first one's id.
    """
    checked_user = check_user_id(user_id)
    notification = checked_notification(title, body, url, kind, data)
    checked_key = None if key is None else check_key(key, "key")
    return _inbox().add(checked_user, notification, key=checked_key)


@maps_broker_errors
def notify_admins(
    title: str,
    body: str = "",
    *,
    url: str | None = None,
    kind: str = "admin",
    data: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> list[str]:
    """Notify every admin (``MAILER_ADMIN_USERS`` and ``MAILER_ADMIN_USERS_SOURCE``, each admin
    once); returns the notification ids, one per admin. ``key`` dedupes per admin."""
    notification = checked_notification(title, body, url, kind, data)
    checked_key = None if key is None else check_key(key, "key")
    settings = mailer_settings.current()
    admins = _admin_ids(settings)
    return stores.for_settings(settings).inbox.add_many(admins, notification, key=checked_key)


@maps_broker_errors
def broadcast(
    title: str,
    body: str = "",
    *,
    url: str | None = None,
    kind: str = "broadcast",
    data: Mapping[str, Any] | None = None,
    users: Iterable[str | int] | None = None,
) -> str:
    """Notify many users through the worker, in batches of 1,000; returns the broadcast's id.

    ``users`` is read lazily, here, as batches are queued; an id that is not one (empty, too
    long, with spaces) is logged and left out, as ``send_bulk`` leaves out a bad row, rather
    than stopping a broadcast half way. Without ``users``, every user the application's
    ``MAILER_USERS_SOURCE`` yields is notified, read in the worker the same way.
    """
    from mailer.actors.notifications import broadcast_notification, enqueue_batches

    notification = checked_notification(title, body, url, kind, data)
    broadcast_id = uuid.uuid4().hex
    if users is None:
        if mailer_settings.current().users_source is None:
            raise ConfigurationError(
                "MAILER_USERS_SOURCE",
                "is not set: name a callable yielding user ids, or pass users=",
            )
        broadcast_notification.send(broadcast_id, notification)
    elif isinstance(users, (str, bytes)):
        raise InvalidUserId("users", "must be an iterable of user ids, not a single string")
    else:
        enqueue_batches(broadcast_id, users, notification, skip_invalid=True)
    return broadcast_id


@maps_broker_errors
def notifications(
    user_id: str | int, *, limit: int = 20, before: str | None = None
) -> NotificationPage:
    """A page of the user's notifications, newest first; pass the page's ``next_cursor`` as
    ``before`` for the next one."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    cursor = None if before is None else check_notification_id(before, "before")
    return _inbox().page(check_user_id(user_id), limit=limit, before=cursor)


@maps_broker_errors
def unread_count(user_id: str | int) -> int:
    return _inbox().unread_count(check_user_id(user_id))


@maps_broker_errors
def mark_read(user_id: str | int, notification_id: str) -> bool:
    """False when it was read already or is no longer kept."""
    checked_id = check_notification_id(notification_id, "notification_id")
    return _inbox().mark_read(check_user_id(user_id), checked_id)


@maps_broker_errors
def mark_all_read(user_id: str | int) -> int:
    """How many notifications were unread."""
    return _inbox().mark_all_read(check_user_id(user_id))


def notification_token(user_id: str | int, *, ttl_s: int | None = None) -> str:
    """A token opening ``user_id``'s notification stream, for ``ttl_s`` seconds (default
    ``MAILER_NOTIFICATION_TOKEN_TTL``): put it in the page that opens the stream."""
    config = mailer_settings.current()
    lifetime = config.notification_token_ttl_s if ttl_s is None else ttl_s
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
        raise ValidationError("ttl_s", "must be a positive whole number of seconds")
    signer = signer_for(config, STREAM_TOKEN_PURPOSE)
    return signer.sign(check_user_id(user_id), expires_at=int(time.time()) + lifetime)


def _inbox() -> NotificationStore:
    return stores.for_settings(mailer_settings.current()).inbox


def _admin_ids(config: mailer_settings.Settings) -> list[str]:
    if not config.admin_users and config.admin_users_source is None:
        raise ConfigurationError(
            "MAILER_ADMIN_USERS", "names no admin, nor does MAILER_ADMIN_USERS_SOURCE: set either"
        )
    admins = [_admin_id(user_id, "MAILER_ADMIN_USERS") for user_id in config.admin_users]
    if config.admin_users_source is not None:
        source = load_source("MAILER_ADMIN_USERS_SOURCE", config.admin_users_source)
        admins += [_admin_id(user_id, "MAILER_ADMIN_USERS_SOURCE") for user_id in source()]
    return list(dict.fromkeys(admins))


def _admin_id(user_id: object, variable: str) -> str:
    """An admin's id from the settings: a bad one is the deployment's mistake, not the caller's."""
    try:
        return check_user_id(user_id)
    except InvalidUserId as err:
        raise ConfigurationError(variable, f"yields a bad user id: {err.problem}") from None
