"""Every actor mailer runs: ``dramatiq mailer.actors`` starts workers for all of them.

The broker is set up first (``mailer.broker.setup``), so every middleware that owns an actor
option is in place before the first actor is declared. The app's subscribers
(``MAILER_EVENT_MODULES``) are declared when a worker process boots, once every module is
imported (``mailer.actors.events`` says why not here).
"""

from typing import cast

from dramatiq.brokers.redis import RedisBroker

from mailer import broker as mailer_broker
from mailer import settings


def _load_event_modules() -> None:
    from mailer.actors.events import load_event_modules

    load_event_modules()


# A Redis broker in every process that runs mailer; the dashboard and the CLI rely on it.
broker = cast(RedisBroker, mailer_broker.setup(settings.current(), on_boot=_load_event_modules))

from mailer.actors import digest, emails, events, notifications, schedules  # noqa: E402

__all__ = ["broker", "digest", "emails", "events", "notifications", "schedules"]
