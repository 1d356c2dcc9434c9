"""The scheduler's tick: every minute, enqueue the schedule entries that have come due.

``periodiq mailer.actors`` enqueues a tick at the top of each minute. It runs on the critical
queue at the top actor priority, so a newsletter backlog never holds it past the 30 s after
which periodiq drops a tick as stale. A failed tick is not retried: the next one, a minute
later, picks up whatever is still due, and an entry left leased by a dead tick comes due again.
"""

from __future__ import annotations

import logging

import dramatiq
from periodiq import cron

from mailer import settings, stores
from mailer.priorities import LEVELS

logger = logging.getLogger(__name__)


@dramatiq.actor(
    actor_name="fire_due_schedules",
    queue_name=LEVELS["critical"].queue_name,
    priority=0,
    max_retries=0,
    periodic=cron("* * * * *"),
)
def fire_due_schedules() -> None:
    """Enqueue every due entry as stored; two concurrent ticks claim disjoint entries."""
    schedules = stores.for_settings(settings.current()).schedules
    fired = schedules.fire_due(dramatiq.get_broker().enqueue)
    # Quiet when nothing was due, which is most minutes: one line a minute would drown the log.
    logger.log(logging.INFO if fired else logging.DEBUG, "Fired %d scheduled email(s).", fired)
