"""The four priority levels, each with its own queue.

A queue per level is what keeps a password reset fast while a newsletter drains: a worker runs
one consumer per queue, so a critical message is fetched as soon as it lands instead of
waiting behind thousands of low ones, and the actor priority then puts it first in line for
the worker's threads (lower numbers run first).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.errors import InvalidPriority


@dataclass(frozen=True)
class Priority:
    name: str
    queue_name: str
    #: Dramatiq's actor priority: among fetched messages, lower runs first.
    actor_priority: int


LEVELS: dict[str, Priority] = {
    name: Priority(name, f"mailer_{name}", rank * 10)
    for rank, name in enumerate(("critical", "high", "normal", "low"))
}


def parse_priority(value: object) -> Priority:
    if isinstance(value, Priority):
        return value
    if isinstance(value, str) and value.lower() in LEVELS:
        return LEVELS[value.lower()]
    raise InvalidPriority("priority", f"{value!r} is not one of {', '.join(LEVELS)}")
