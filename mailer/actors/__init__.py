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
from mailer.errors import ConfigurationError


class ConfigurationRefused(ConfigurationError, SystemExit):
    """A setting stopped the actors from loading: still the ``ConfigurationError`` a caller
    catches, and, where nothing catches it (``dramatiq mailer.actors``, ``periodiq``, a script),
    an exit with one line naming the variable instead of the import's traceback."""

    def __init__(self, error: ConfigurationError) -> None:
        super().__init__(error.variable, error.problem)
        self.code = f"mailer: {error}"


def _load_event_modules() -> None:
    from mailer.actors.events import load_event_modules

    load_event_modules()


try:
    # A Redis broker in every process that runs mailer; the dashboard and the CLI rely on it.
    broker = cast(RedisBroker, mailer_broker.setup(settings.current(), on_boot=_load_event_modules))
    from mailer.actors import digest, emails, events, notifications, schedules
except ConfigurationError as err:
    raise ConfigurationRefused(err) from None

__all__ = ["broker", "digest", "emails", "events", "notifications", "schedules"]
