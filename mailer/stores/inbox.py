"""In-app notifications in Redis: one capped stream per user, and the ids still unread.

A user's notifications are a Redis Stream, ``mailer:notifications:<user id>``, so the stream
endpoint can block on ``XREAD`` for the next one and resume after the last id a browser saw,
and its ids (``<ms>-<seq>``, unique among one user's notifications) order, page and name them
at once. Beside it, a sorted set ``mailer:notifications-unread:<user id>`` holds the unread
ids, so the badge count is one ``ZCARD``.

Both stay bounded: each add trims the stream to the newest ``per_user`` and drops the trimmed
ids from the unread set in the same Lua call (``lua/inbox_add.lua``), and both keys expire
when a user has received nothing for ``idle_ttl_s`` (a notification is news, not an archive).
Every key is under the store's prefix, ``mailer`` by default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from mailer.errors import InvalidNotification
from mailer.stores import lua
from mailer.stores.keys import DEFAULT_PREFIX, namespaced

#: A user who has received nothing for this long loses their notifications, read or not.
IDLE_TTL_S = 90 * 24 * 3600
#: The signer's purpose for stream tokens: one made for another use never opens a stream.
STREAM_TOKEN_PURPOSE = "notification stream"
#: How long a caller's dedupe key, and a broadcast batch's done marker, are remembered.
KEY_TTL_S = 24 * 3600

_ID = re.compile(r"\d{1,20}-\d{1,20}")


@dataclass(frozen=True)
class Notification:
    id: str
    title: str
    body: str
    url: str | None
    kind: str
    data: dict[str, Any]
    created_at: datetime
    read: bool

    def to_json(self) -> dict[str, Any]:
        """What a browser gets: ``created_at`` as ISO 8601 text."""
        return {**asdict(self), "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    #: Pass as ``before`` for the next (older) page; None on the last one.
    next_cursor: str | None


class NotificationStore:
    """Each user's newest ``per_user`` notifications and which of them are unread.

    ``notification`` arguments are checked mappings with ``title``, ``body``, ``url``,
    ``kind`` and ``data`` (``mailer.api.inbox`` checks them at the call site).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        per_user: int,
        key_ttl_s: int = KEY_TTL_S,
        idle_ttl_s: int = IDLE_TTL_S,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.client = client
        self.per_user = per_user
        self.key_ttl_s = key_ttl_s
        self.idle_ttl_s = idle_ttl_s
        self.prefix = prefix
        self._add = client.register_script(lua.source("inbox_add"))

    # --- writing ---------------------------------------------------------------------------

    def add(self, user_id: str, notification: Mapping[str, Any], *, key: str | None = None) -> str:
        """Store one notification and return its id; with ``key``, a second add under the same
        key within ``key_ttl_s`` stores nothing and returns the first one's id."""
        return _text(self._add(*self._add_call(user_id, notification, key)))

    def add_many(
        self, user_ids: Iterable[str], notification: Mapping[str, Any], *, key: str | None = None
    ) -> list[str]:
        """``add`` for each user, in one round trip; the ids in the users' order."""
        with self.client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                self._add(*self._add_call(user_id, notification, key), client=pipe)
            return [_text(added) for added in pipe.execute()]

    def add_batch(
        self, batch_key: str, user_ids: Sequence[str], notification: Mapping[str, Any]
    ) -> bool:
        """Notify every user of a batch once, however often the batch is retried.

        The notifications and the batch's done marker are written in one transaction, watched
        on the marker: a batch already done, or done meanwhile by a second delivery of the same
        message, writes nothing and returns False.
        """
        marker = namespaced(self.prefix, "notification-batch", batch_key)
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(marker)
                if pipe.exists(marker):
                    return False
                pipe.multi()
                for user_id in dict.fromkeys(user_ids):
                    self._add(*self._add_call(user_id, notification, None), client=pipe)
                pipe.set(marker, 1, ex=self.key_ttl_s)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def mark_read(self, user_id: str, notification_id: str) -> bool:
        """False if it was read already, or is no longer kept."""
        return bool(self.client.zrem(self._unread_key(user_id), notification_id))

    def mark_all_read(self, user_id: str) -> int:
        """How many were unread."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zcard(self._unread_key(user_id))
            pipe.delete(self._unread_key(user_id))
            count, _ = pipe.execute()
        return int(count)

    # --- reading ---------------------------------------------------------------------------

    def page(self, user_id: str, *, limit: int, before: str | None = None) -> NotificationPage:
        """Up to ``limit`` notifications, newest first, older than the ``before`` id if given."""
        newest = "+" if before is None else f"({before}"
        entries = self.client.xrevrange(self._stream_key(user_id), newest, "-", count=limit + 1)
        items = self._with_read(user_id, entries[:limit])
        return NotificationPage(items, items[-1].id if len(entries) > limit else None)

    def unread_count(self, user_id: str) -> int:
        return int(self.client.zcard(self._unread_key(user_id)))

    def since(self, user_id: str, last_id: str) -> list[Notification]:
        """Every notification still kept after ``last_id``, oldest first: what a stream missed."""
        entries = self.client.xrange(
            self._stream_key(user_id), f"({last_id}", "+", count=self.per_user
        )
        return self._with_read(user_id, entries)

    def wait(self, user_id: str, last_id: str, timeout_ms: int) -> list[Notification]:
        """Those after ``last_id``, waiting up to ``timeout_ms`` for one if there are none yet.

        The read blocks this client's connection: a stream gives each reader a client of its own.
        """
        streams = {self._stream_key(user_id): last_id}
        answer = self.client.xread(streams, count=self.per_user, block=max(1, timeout_ms))
        return self._with_read(user_id, answer[0][1]) if answer else []

    def last_id(self, user_id: str) -> str:
        """The newest notification's id, or ``0-0`` for a user without any: where "now" is."""
        newest = self.client.xrevrange(self._stream_key(user_id), "+", "-", count=1)
        return _text(newest[0][0]) if newest else "0-0"

    # --- helpers ---------------------------------------------------------------------------

    def _add_call(
        self, user_id: str, notification: Mapping[str, Any], key: str | None
    ) -> tuple[list[str], list[object]]:
        keys = [self._stream_key(user_id), self._unread_key(user_id)]
        if key is not None:
            keys.append(self._dedupe_key(user_id, key))
        fields = [item for pair in _fields(notification).items() for item in pair]
        return keys, [self.per_user, self.idle_ttl_s, self.key_ttl_s, *fields]

    def _stream_key(self, user_id: str) -> str:
        return namespaced(self.prefix, "notifications", user_id)

    def _unread_key(self, user_id: str) -> str:
        return namespaced(self.prefix, "notifications-unread", user_id)

    def _dedupe_key(self, user_id: str, key: str) -> str:
        # User ids and keys may both hold colons: the id's length keeps ("a", "b:c") apart
        # from ("a:b", "c").
        return namespaced(self.prefix, "notification-key", str(len(user_id)), user_id, key)

    def _with_read(self, user_id: str, entries: Sequence[Any]) -> list[Notification]:
        if not entries:
            return []
        ids = [_text(entry_id) for entry_id, _ in entries]
        unread = self.client.zmscore(self._unread_key(user_id), ids)
        return [
            _notification(entry_id, fields, score is None)
            for entry_id, (_, fields), score in zip(ids, entries, unread, strict=True)
        ]


def check_notification_id(value: object, field: str) -> str:
    """A notification id as the store makes them (``<ms>-<seq>``), so it is safe in a range."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidNotification(field, "is not a notification id like 1700000000000-0")
    return value


def _fields(notification: Mapping[str, Any]) -> dict[str, str]:
    return {
        "title": notification["title"],
        "body": notification.get("body", ""),
        "url": notification.get("url") or "",
        "kind": notification["kind"],
        "data": json.dumps(notification.get("data") or {}, separators=(",", ":")),
    }


def _notification(entry_id: str, raw: Mapping[bytes, bytes], read: bool) -> Notification:
    fields = {_text(name): _text(value) for name, value in raw.items()}
    milliseconds = int(entry_id.partition("-")[0])
    return Notification(
        id=entry_id,
        title=fields["title"],
        body=fields["body"],
        url=fields["url"] or None,
        kind=fields["kind"],
        data=json.loads(fields["data"]),
        created_at=datetime.fromtimestamp(milliseconds / 1000, timezone.utc),
        read=read,
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
