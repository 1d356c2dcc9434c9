"""mailer's key scheme in Redis: every key of mailer's own state begins with one prefix.

Rate-limit windows, schedules, idempotency keys, send receipts and the failover circuit all
live in the Redis the broker uses, so a deployment has one thing to run and back up, and
every worker and web process on every host sees the same state. The prefix keeps them apart
from Dramatiq's keys; each store takes its prefix in its constructor (``DEFAULT_PREFIX`` unless
told otherwise).
"""

from __future__ import annotations

DEFAULT_PREFIX = "mailer"


def namespaced(prefix: str, *parts: str) -> str:
    """A key under ``prefix``: ``namespaced("mailer", "schedule", "due")`` is
    ``mailer:schedule:due``."""
    return ":".join((prefix, *parts))


def key(*parts: str) -> str:
    """A key under the default prefix: ``key("schedule", "due")`` is ``mailer:schedule:due``."""
    return namespaced(DEFAULT_PREFIX, *parts)
