"""Every actor mailer runs: ``dramatiq mailer.actors`` starts workers for all of them.

The broker module comes first, so every middleware that owns an actor option is in place
before the first actor is declared.
"""

from mailer import broker
from mailer.actors import digest, emails, schedules

__all__ = ["broker", "digest", "emails", "schedules"]
