"""Every actor mailer runs: ``dramatiq mailer.actors`` starts workers for all of them.

The broker module comes first, so every middleware that owns an actor option is in place
before the first actor is declared. The app's subscribers (``MAILER_EVENT_MODULES``) are
declared when a worker process boots, once every module is imported (``mailer.actors.events``
says why not here).
"""

from mailer import broker
from mailer.actors import digest, emails, events, notifications, schedules
from mailer.middleware.boot import OnBoot

broker.broker.add_middleware(OnBoot(events.load_event_modules))

__all__ = ["broker", "digest", "emails", "events", "notifications", "schedules"]
