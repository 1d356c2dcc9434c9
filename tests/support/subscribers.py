"""A test's own ``@subscribe`` handlers: the registry and the broker's actors put back after."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import dramatiq


@contextlib.contextmanager
def own_subscribers() -> Iterator[None]:
    """Start with no subscribers; afterwards forget those declared inside, actors included,
    and bring back the ones there were."""
    # Imported on entry, not at collection: importing the actors builds the broker, and only
    # the suite's start has pointed REDIS_URL at its own Redis.
    from mailer.actors import events

    saved = copy.copy(events.SUBSCRIBERS)
    events.SUBSCRIBERS.clear()
    try:
        yield
    finally:
        declared = {s.name for listed in events.SUBSCRIBERS.values() for s in listed}
        for name in declared:
            dramatiq.get_broker().actors.pop(name, None)
        events.SUBSCRIBERS.clear()
        events.SUBSCRIBERS.update(saved)
