"""In-app notifications: the store's cap, unread set, paging and dedupe; the API's checks, made
before anything is written or queued; broadcasts through a stub worker; the stream's tokens and
its Server-Sent Event frames, from the WSGI app called directly."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timezone
from typing import Any

import pytest
import redis
from dramatiq import Message, Worker
from dramatiq.brokers.stub import StubBroker

from mailer import settings
from mailer.actors.notifications import notify_users
from mailer.api import inbox
from mailer.errors import (
    ConfigurationError,
    InvalidKey,
    InvalidNotification,
    InvalidToken,
    InvalidUserId,
    ValidationError,
)
from mailer.priorities import LEVELS
from mailer.settings import Settings
from mailer.signing import signer_for
from mailer.stores import keys, redis_client
from mailer.stores.inbox import STREAM_TOKEN_PURPOSE, NotificationStore
from mailer.web.notification_stream import STREAM_PATH, stream_app

from .conftest import drain

SECRET = "unit-test secret key, long enough to sign tokens"
APP_ORIGIN = "https://app.example"
CAP = 5


@pytest.fixture
def inbox_settings(mailer_settings: Settings) -> Iterator[Settings]:
    configured = replace(
        mailer_settings,
        secret_key=SECRET,
        notifications_per_user=CAP,
        cors_origins=(APP_ORIGIN,),
        admin_users=("1", "2"),
        admin_users_source="tests.support.users:admin_user_ids",
        users_source="tests.support.users:all_user_ids",
    )
    settings.configure(configured)
    _forget_notifications(suite_client())
    yield configured
    _forget_notifications(suite_client())


def _forget_notifications(client: redis.Redis) -> None:
    for name in client.scan_iter(match="mailer:notification*", count=1_000):
        client.delete(name)


def suite_client() -> redis.Redis:
    return redis_client(settings.current().redis_url)


def stream_exists(user_id: str) -> bool:
    return bool(suite_client().exists(keys.key("notifications", user_id)))


def titles(user_id: str, limit: int = CAP) -> list[str]:
    return [item.title for item in inbox.notifications(user_id, limit=limit).items]


# --- notify and read -------------------------------------------------------------------------


def test_notify_stores_one_notification_the_user_reads_back(inbox_settings):
    notification_id = inbox.notify(
        42, "Order shipped", "On its way.", url="/orders/7", kind="order", data={"order": 7}
    )

    [item] = inbox.notifications(42).items
    assert item.id == notification_id
    assert (item.title, item.body, item.url, item.kind) == (
        "Order shipped",
        "On its way.",
        "/orders/7",
        "order",
    )
    assert item.data == {"order": 7}
    assert not item.read
    assert item.created_at.tzinfo == timezone.utc
    assert abs(item.created_at.timestamp() - time.time()) < 5
    assert inbox.unread_count("42") == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "field"),
    [
        (("",), {}, InvalidNotification, "title"),
        (("   ",), {}, InvalidNotification, "title"),
        ((None,), {}, InvalidNotification, "title"),
        (("x" * 201,), {}, InvalidNotification, "title"),
        (("Two\nlines",), {}, InvalidNotification, "title"),
        (("Hi", "x" * 2_001), {}, InvalidNotification, "body"),
        (("Hi", "bell\x07"), {}, InvalidNotification, "body"),
        (("Hi", 5), {}, InvalidNotification, "body"),
        (("Hi",), {"url": "javascript:alert(1)"}, InvalidNotification, "url"),
        (("Hi",), {"url": "//evil.example/path"}, InvalidNotification, "url"),
        (("Hi",), {"url": "/\\evil.example"}, InvalidNotification, "url"),
        (("Hi",), {"url": "ftp://files.example/a"}, InvalidNotification, "url"),
        (("Hi",), {"url": "/orders/7 now"}, InvalidNotification, "url"),
        (("Hi",), {"url": "orders/7"}, InvalidNotification, "url"),
        (("Hi",), {"kind": "two words"}, InvalidNotification, "kind"),
        (("Hi",), {"kind": ""}, InvalidNotification, "kind"),
        (("Hi",), {"kind": "k" * 41}, InvalidNotification, "kind"),
        (("Hi",), {"data": ["not", "a", "mapping"]}, InvalidNotification, "data"),
        (("Hi",), {"data": {"when": object()}}, InvalidNotification, "data"),
        (("Hi",), {"data": {"ratio": float("nan")}}, InvalidNotification, "data"),
        (("Hi",), {"data": {"blob": "x" * 9_000}}, InvalidNotification, "data"),
        (("Hi",), {"key": ""}, InvalidKey, "key"),
        (("Hi",), {"key": "k\n"}, InvalidKey, "key"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    inbox_settings, args, kwargs, error, field
):
    with pytest.raises(error) as raised:
        inbox.notify("ann", *args, **kwargs)

    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)
    assert not stream_exists("ann")


@pytest.mark.parametrize("user_id", ["", "two words", "x" * 129, None, 1.5, True])
def test_a_bad_user_id_is_refused(inbox_settings, user_id):
    with pytest.raises(InvalidUserId):
        inbox.notify(user_id, "Hi")


def test_good_urls_pass(inbox_settings):
    for url in ("https://shop.example/orders/7?tab=1#top", "http://localhost:8000/", "/a?b=c"):
        inbox.notify("ann", "Hi", url=url)

    assert [item.url for item in inbox.notifications("ann").items] == [
        "/a?b=c",
        "http://localhost:8000/",
        "https://shop.example/orders/7?tab=1#top",
    ]


def test_each_user_keeps_only_the_newest_and_the_trimmed_ones_leave_the_unread_count(
    inbox_settings,
):
    for number in range(CAP + 3):
        inbox.notify("ann", f"n{number}")

    assert titles("ann", limit=50) == [f"n{number}" for number in range(CAP + 2, 2, -1)]
    assert inbox.unread_count("ann") == CAP
    assert suite_client().zcard(keys.key("notifications-unread", "ann")) == CAP


def test_read_state_per_notification_and_all_at_once(inbox_settings):
    first, second, third = (inbox.notify("ann", title) for title in ("a", "b", "c"))

    assert inbox.mark_read("ann", second) is True
    assert inbox.mark_read("ann", second) is False
    assert [item.read for item in inbox.notifications("ann").items] == [False, True, False]
    assert inbox.unread_count("ann") == 2
    assert inbox.mark_all_read("ann") == 2
    assert inbox.mark_all_read("ann") == 0
    assert all(item.read for item in inbox.notifications("ann").items)
    assert {first, third} <= {item.id for item in inbox.notifications("ann").items}


def test_a_read_notification_trimmed_later_leaves_the_count_right(inbox_settings):
    oldest = inbox.notify("ann", "oldest")
    inbox.mark_read("ann", oldest)
    for number in range(CAP):
        inbox.notify("ann", f"n{number}")

    assert inbox.unread_count("ann") == CAP
    assert inbox.mark_read("ann", oldest) is False


def test_an_inbox_under_another_prefix_keeps_its_own_keys(mailer_settings):
    client = suite_client()
    other = NotificationStore(client, per_user=5, prefix="other-app")
    try:
        first = other.add("ann", {"title": "hi", "kind": "info"}, key="k")
        assert other.add("ann", {"title": "hi", "kind": "info"}, key="k") == first
        assert other.unread_count("ann") == 1
        assert sorted(client.keys("other-app:*")) == [
            b"other-app:notification-key:3:ann:k",
            b"other-app:notifications-unread:ann",
            b"other-app:notifications:ann",
        ]
        assert not stream_exists("ann")
    finally:
        for name in client.scan_iter(match="other-app:*"):
            client.delete(name)


def test_pages_run_newest_first_with_a_cursor_until_none_is_left(mailer_settings):
    notifications = NotificationStore(suite_client(), per_user=100)
    _forget_notifications(suite_client())
    made = [notifications.add("ann", {"title": f"n{i}", "kind": "info"}) for i in range(12)]

    pages, cursor = [], None
    while True:
        page = notifications.page("ann", limit=5, before=cursor)
        pages.append([item.id for item in page.items])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert [len(ids) for ids in pages] == [5, 5, 2]
    assert [i for ids in pages for i in ids] == made[::-1]


def test_a_page_that_ends_exactly_at_the_oldest_has_no_cursor(inbox_settings):
    for number in range(4):
        inbox.notify("ann", f"n{number}")

    assert inbox.notifications("ann", limit=4).next_cursor is None
    assert inbox.notifications("ann", limit=3).next_cursor is not None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"before": "17000-0; DROP"}, "before"), ({"limit": 0}, "limit"), ({"limit": 101}, "limit")],
)
def test_bad_paging_arguments_are_refused(inbox_settings, kwargs, field):
    with pytest.raises(ValidationError) as raised:
        inbox.notifications("ann", **kwargs)
    assert raised.value.field == field


def test_a_bad_notification_id_is_refused(inbox_settings):
    with pytest.raises(InvalidNotification):
        inbox.mark_read("ann", "+")


def test_a_key_stores_the_notification_once_and_returns_the_first_id(inbox_settings):
    first = inbox.notify("ann", "Order shipped", key="order:7:shipped")
    again = inbox.notify("ann", "Order shipped (again)", key="order:7:shipped")
    inbox.notify("bob", "Order shipped", key="order:7:shipped")

    assert again == first
    assert titles("ann") == ["Order shipped"]
    assert titles("bob") == ["Order shipped"]


def test_keys_of_users_with_colons_do_not_collide(inbox_settings):
    inbox.notify("a", "for a", key="b:c")
    inbox.notify("a:b", "for a:b", key="c")

    assert titles("a") == ["for a"]
    assert titles("a:b") == ["for a:b"]


def test_notify_admins_reaches_each_configured_admin_once(inbox_settings):
    ids = inbox.notify_admins("Disk almost full", url="/ops/disks")

    assert len(ids) == 3
    for admin in ("1", "2", "ops-lead"):
        assert [item.kind for item in inbox.notifications(admin).items] == ["admin"]


def test_notify_admins_without_any_admin_configured_is_a_configuration_error(inbox_settings):
    settings.configure(replace(inbox_settings, admin_users=(), admin_users_source=None))

    with pytest.raises(ConfigurationError) as raised:
        inbox.notify_admins("Disk almost full")
    assert raised.value.variable == "MAILER_ADMIN_USERS"


# --- broadcast ---------------------------------------------------------------------------------


def queued(broker: StubBroker) -> int:
    return broker.queues[LEVELS["low"].queue_name].qsize()


def test_a_broadcast_to_given_users_goes_in_batches_of_a_thousand(
    inbox_settings, stub_broker: StubBroker
):
    users = (f"member-{number}" for number in range(2_500))

    inbox.broadcast("Maintenance tonight", users=users)
    batches = [Message.decode(data) for data in stub_broker.queues["mailer_low"].queue]
    assert [len(batch.args[1]) for batch in batches] == [1_000, 1_000, 500]
    worker = Worker(stub_broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        drain(stub_broker, worker)
    finally:
        worker.stop()

    client = suite_client()
    with client.pipeline(transaction=False) as pipe:
        for number in range(2_500):
            pipe.xlen(keys.key("notifications", f"member-{number}"))
        assert set(pipe.execute()) == {1}
    assert titles("member-1999") == ["Maintenance tonight"]


def test_a_broadcast_reads_its_users_lazily_a_batch_at_a_time(
    inbox_settings, stub_broker: StubBroker
):
    queued_when_reading: list[int] = []

    def users() -> Iterator[str]:
        for number in range(2_001):
            if number % 1_000 == 0:
                queued_when_reading.append(queued(stub_broker))
            yield f"member-{number}"

    inbox.broadcast("Hi", users=users())

    assert queued_when_reading == [0, 1, 2]
    assert queued(stub_broker) == 3


def test_a_broadcast_without_users_reads_the_users_source_in_the_worker(
    inbox_settings, stub_broker: StubBroker, stub_worker: Worker
):
    inbox.broadcast("New feature", kind="news")
    drain(stub_broker, stub_worker)

    for number in range(25):
        assert titles(f"user-{number}") == ["New feature"]


def test_the_worker_leaves_bad_ids_from_the_source_out(
    inbox_settings, stub_broker: StubBroker, stub_worker: Worker
):
    settings.configure(replace(inbox_settings, users_source="tests.support.users:bad_user_ids"))

    inbox.broadcast("New feature")
    drain(stub_broker, stub_worker)

    assert titles("user-a") == titles("user-b") == ["New feature"]


def test_a_bad_broadcast_queues_nothing(inbox_settings, stub_broker: StubBroker):
    with pytest.raises(InvalidNotification):
        inbox.broadcast("", users=["ann"])
    with pytest.raises(InvalidUserId):
        inbox.broadcast("Hi", users="ann")
    settings.configure(replace(inbox_settings, users_source=None))
    with pytest.raises(ConfigurationError):
        inbox.broadcast("Hi")

    assert queued(stub_broker) == 0


def test_a_bad_id_among_the_callers_users_is_left_out_not_a_half_sent_broadcast(
    inbox_settings, stub_broker: StubBroker, stub_worker, caplog
):
    with caplog.at_level("WARNING"):
        inbox.broadcast("Hi", users=["ann", "two words", "bob"])
    drain(stub_broker, stub_worker)
    assert titles("ann") == titles("bob") == ["Hi"]
    assert "users[1]" in caplog.text


def test_a_retried_batch_notifies_nobody_twice(inbox_settings):
    notification = {"title": "Once", "body": "", "url": None, "kind": "info", "data": {}}

    notify_users.fn("broadcast-1:0", ["ann", "bob", "ann"], notification)
    notify_users.fn("broadcast-1:0", ["ann", "bob"], notification)

    assert titles("ann") == titles("bob") == ["Once"]


# --- stream tokens -----------------------------------------------------------------------------


def test_a_token_names_its_user_until_it_expires(inbox_settings):
    token = inbox.notification_token(42, ttl_s=60)
    signer = signer_for(inbox_settings, STREAM_TOKEN_PURPOSE)

    assert signer.unsign(token) == "42"
    with pytest.raises(InvalidToken):
        signer.unsign(token, now=time.time() + 61)


def test_a_forged_or_misused_token_is_refused(inbox_settings):
    signer = signer_for(inbox_settings, STREAM_TOKEN_PURPOSE)
    encoded, expiry, signature = inbox.notification_token("ann").split(".")
    bob = signer.sign("bob").split(".")[0]

    with pytest.raises(InvalidToken):
        signer.unsign(f"{bob}.{expiry}.{signature}")
    with pytest.raises(InvalidToken):
        signer.unsign(f"{encoded}.{int(expiry) + 3600}.{signature}")
    with pytest.raises(InvalidToken):
        signer.unsign(signer_for(inbox_settings, "unsubscribe").sign("ann"))


def test_tokens_need_a_secret_key(inbox_settings):
    settings.configure(replace(inbox_settings, secret_key=None))
    with pytest.raises(ConfigurationError):
        inbox.notification_token("ann")
    with pytest.raises(ConfigurationError):
        stream_app(settings.current())


# --- the stream endpoint -----------------------------------------------------------------------


class Opened:
    """One call of the WSGI app: its status, headers and body iterator."""

    def __init__(self, app: Any, query: str = "", method: str = "GET", **headers: str) -> None:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": headers.pop("path", STREAM_PATH),
            "QUERY_STRING": query,
            **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
        }
        self.body = app(environ, self._start)
        self.chunks = iter(self.body)

    def _start(self, status: str, headers: list[tuple[str, str]]) -> None:
        self.status = int(status.split()[0])
        self.headers = dict(headers)

    def next_frame(self) -> str:
        return bytes(next(self.chunks)).decode()

    def rest(self) -> str:
        """Everything until the stream ends, then closed as a server would."""
        try:
            return b"".join(self.chunks).decode()
        finally:
            self.close()

    def close(self) -> None:
        if hasattr(self.body, "close"):
            self.body.close()


def frame_ids(text: str) -> list[str]:
    """The notification frames' ids, not the opening frame's, which only sets where to resume."""
    blocks = text.split("\n\n")
    return [block.split("\n")[0][4:] for block in blocks if "\nevent: notification\n" in block]


@pytest.fixture
def app(inbox_settings: Settings) -> Any:
    return stream_app(inbox_settings, keepalive_s=0.1, lifetime_s=0.5)


def test_a_new_notification_arrives_as_a_frame_at_once(inbox_settings):
    app = stream_app(inbox_settings, keepalive_s=5.0, lifetime_s=10.0)
    stream = Opened(app, f"token={inbox.notification_token('ann')}")
    assert stream.status == 200
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert stream.headers["Cache-Control"] == "no-cache"
    assert stream.headers["X-Accel-Buffering"] == "no"
    assert stream.next_frame().startswith("retry: 2000\nid: ")

    timer = threading.Timer(0.2, inbox.notify, ("ann", "Hello"), {"url": "/inbox"})
    timer.start()
    started = time.monotonic()
    frame = stream.next_frame()
    stream.close()
    timer.join()

    assert time.monotonic() - started < 1.0
    lines = frame.split("\n")
    assert lines[0].startswith("id: ")
    assert lines[1] == "event: notification"
    data = json.loads(lines[2].removeprefix("data: "))
    assert data["id"] == lines[0][4:]
    assert (data["title"], data["url"], data["read"]) == ("Hello", "/inbox", False)
    assert frame.endswith("\n\n")


def test_the_stream_starts_now_sends_keepalives_and_ends(app):
    before = inbox.notify("ann", "Before the stream opened")
    stream = Opened(app, f"token={inbox.notification_token('ann')}")

    text = stream.rest()

    assert text.startswith(f"retry: 2000\nid: {before}\n\n")
    assert ": keepalive\n\n" in text
    assert "Before the stream opened" not in text


def test_a_reconnect_gets_what_it_missed_after_its_last_event_id(app):
    first, second, third = (inbox.notify("ann", title) for title in ("one", "two", "three"))
    inbox.notify("bob", "not for ann")
    token = inbox.notification_token("ann")

    resumed = Opened(app, f"token={token}", last_event_id=first).rest()
    from_query = Opened(app, f"token={token}&last_event_id={second}").rest()

    assert resumed.startswith(f"retry: 2000\nid: {first}\n\n")
    assert frame_ids(resumed) == [second, third]
    assert frame_ids(from_query) == [third]
    assert "not for ann" not in resumed


def test_a_mangled_last_event_id_starts_the_stream_now(app):
    inbox.notify("ann", "old")

    text = Opened(app, f"token={inbox.notification_token('ann')}", last_event_id="0-0 x").rest()

    assert frame_ids(text) == []


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "YW5u..c2lnbmF0dXJl", "{forged}", "{expired}", "{unsubscribe}"],
)
def test_a_bad_token_gets_403_without_the_token_echoed(app, inbox_settings, token):
    signer = signer_for(inbox_settings, STREAM_TOKEN_PURPOSE)
    token = token.format(
        forged=signer.sign("ann").replace("YW5u", "Ym9i"),
        expired=signer.sign("ann", expires_at=int(time.time()) - 1),
        unsubscribe=signer_for(inbox_settings, "unsubscribe").sign("ann"),
    )

    response = Opened(app, f"token={token}")

    assert response.status == 403
    body = b"".join(response.body).decode()
    assert "invalid or expired" in body
    assert not token or token not in body


def test_cors_echoes_only_an_allowed_origin(app):
    token = inbox.notification_token("ann")

    allowed = Opened(app, f"token={token}", origin=APP_ORIGIN)
    other = Opened(app, f"token={token}", origin="https://evil.example")
    preflight = Opened(app, method="OPTIONS", origin=APP_ORIGIN)
    allowed.close()
    other.close()

    assert allowed.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Access-Control-Allow-Origin" not in other.headers
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Last-Event-ID" in preflight.headers["Access-Control-Allow-Headers"]


def test_other_paths_and_methods_are_refused(app):
    assert Opened(app, path="/notifications").status == 404
    assert Opened(app, path="/notifications/stream/x").status == 404
    assert Opened(app, method="POST").status == 405
