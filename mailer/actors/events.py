"""The event bus's subscribers: each one its own actor, so each retries and fails on its own.

An app declares what should happen when something happens::

    from mailer import Event, subscribe

    @subscribe("user.registered")
    def send_welcome(event: Event) -> None:
        send_email("welcome", to=event.payload["email"], context={...},
                   idempotency_key=f"{event.id}:welcome")

``publish("user.registered", {...})`` then enqueues one message per subscriber of the
topic (``mailer.api.events``). A subscriber that fails is retried with backoff and, out of retries
or on an error in its ``throws``, dead-lettered, without the others repeating or waiting:
they are separate messages. A handler may run more than once (a worker can die after it
finished but before the ack), so it passes ``event.id`` on as an idempotency key.

The worker and the publishing process must know the same subscribers, so both import the
modules listed in ``MAILER_EVENT_MODULES`` (and ``mailer.stock_flows`` when
``MAILER_FLOWS`` switches ready flows on): a worker when it boots, before it takes a message,
and a web process on its first ``publish``. Not at import of ``mailer.actors``: an app module
of subscribers imports ``mailer`` itself, and would find it half-imported.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import dramatiq

from mailer import settings
from mailer.actors import event_outcomes
from mailer.errors import (
    ConfigurationError,
    InvalidPayload,
    PermanentSendError,
    RenderError,
    ValidationError,
)
from mailer.message import Event
from mailer.priorities import LEVELS

#: ``user.registered``, ``post.published``: lower-case words joined by dots.
TOPIC = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\Z")
MAX_TOPIC_LENGTH = 100
# Errors retrying cannot fix: a payload the handler cannot use, an email that will not go.
_NEVER_RETRIED: tuple[type[BaseException], ...] = (PermanentSendError, RenderError, ValidationError)

Handler = TypeVar("Handler", bound=Callable[["Event"], None])


@dataclass(frozen=True)
class Subscriber:
    topic: str
    name: str
    actor: dramatiq.Actor[..., None]
    #: Payload fields the handler cannot do without: ``publish`` refuses an event lacking one.
    requires: tuple[str, ...] = ()
    description: str = ""
    #: Raises ``InvalidPayload`` for a payload the handler would fail on, at ``publish``.
    validate: Callable[[Mapping[str, Any]], object] | None = None

    def check(self, payload: Mapping[str, Any]) -> None:
        missing = [name for name in self.requires if payload.get(name) in (None, "")]
        if missing:
            raise InvalidPayload(
                "payload", f"subscriber {self.name} needs {', '.join(missing)} in the payload"
            )
        if self.validate is not None:
            self.validate(payload)


SUBSCRIBERS: dict[str, list[Subscriber]] = {}


def subscribe(
    topic: str,
    *,
    name: str | None = None,
    requires: Sequence[str] = (),
    priority: str = "normal",
    max_retries: int = 8,
    min_backoff_ms: int = 15_000,
    max_backoff_ms: int = 3_600_000,
    throws: tuple[type[BaseException], ...] = (),
    validate: Callable[[Mapping[str, Any]], object] | None = None,
) -> Callable[[Handler], Handler]:
    """Run the decorated ``handler(event)`` in a worker for every event published to ``topic``.

    Its actor is ``name`` (default ``on_<topic>__<function>``); errors in ``throws`` (and
    mailer's permanent ones) dead-letter the message at once instead of retrying. ``publish``
    refuses a payload without the fields in ``requires`` or that ``validate`` rejects.
    """
    check_topic(topic)
    level = LEVELS[priority]
    actor_options: dict[str, Any] = dict(
        queue_name=level.queue_name,
        priority=level.actor_priority,
        max_retries=max_retries,
        min_backoff=min_backoff_ms,
        max_backoff=max_backoff_ms,
        throws=(*_NEVER_RETRIED, *throws),
    )

    def declare(handler: Handler) -> Handler:
        actor_name = name or f"on_{topic.replace('.', '_')}__{handler.__name__}"
        actor = _declare_actor(handler, actor_name, actor_options)
        doc = (handler.__doc__ or "").strip().splitlines()
        subscriber = Subscriber(
            topic, actor_name, actor, tuple(requires), doc[0] if doc else "", validate
        )
        SUBSCRIBERS.setdefault(topic, []).append(subscriber)
        return handler

    return declare


def _declare_actor(
    handler: Callable[[Event], None], actor_name: str, actor_options: dict[str, Any]
) -> dramatiq.Actor[..., None]:
    """The handler's own actor, taking the event as JSON; its name must be new."""
    if any(s.name == actor_name for subs in SUBSCRIBERS.values() for s in subs):
        raise ConfigurationError(
            "subscribe", f"a subscriber is already named {actor_name!r}; pass name=..."
        )

    def run(event: Mapping[str, Any]) -> None:
        try:
            handler(Event.from_json(event))
        except BaseException as err:
            event_outcomes.failed(event, actor_name, actor_options, err)
            raise
        event_outcomes.done(event, actor_name)

    actor: dramatiq.Actor[..., None] = dramatiq.actor(run, actor_name=actor_name, **actor_options)
    return actor


def subscribers(topic: str) -> list[Subscriber]:
    return list(SUBSCRIBERS.get(topic, ()))


def check_topic(topic: object, field: str = "topic") -> str:
    if not isinstance(topic, str) or len(topic) > MAX_TOPIC_LENGTH or not TOPIC.match(topic):
        raise ValidationError(
            field,
            f"{topic!r} is not a topic: lower-case words joined by dots, e.g. user.registered",
        )
    return topic


_loaded = False


def load_event_modules() -> None:
    """Import the modules that declare subscribers, once per process."""
    global _loaded
    if _loaded:
        return
    configured = settings.current()
    modules = ("mailer.stock_flows",) if configured.flows else ()
    for module in (*modules, *configured.event_modules):
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigurationError(
                "MAILER_EVENT_MODULES", f"cannot import {module}: {err}"
            ) from err
    _loaded = True
