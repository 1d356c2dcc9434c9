"""How many messages each priority queue holds, read from Dramatiq's own keys in Redis.

The health endpoint, the metrics and the worker's periodic stats line all report it, from one
pipelined read: per queue, the ready list, the messages hash (ready and in flight), the delay
queue's hash and the dead-letter set.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from mailer.priorities import LEVELS

_NAMESPACE = "dramatiq"


@dataclass(frozen=True)
class QueueDepth:
    queue_name: str
    ready: int
    in_flight: int
    delayed: int
    dead: int


def queue_depths(client: redis.Redis) -> list[QueueDepth]:
    """One entry per priority level, critical first."""
    names = [level.queue_name for level in LEVELS.values()]
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(f"{_NAMESPACE}:{name}")
            pipe.hlen(f"{_NAMESPACE}:{name}.msgs")
            pipe.hlen(f"{_NAMESPACE}:{name}.DQ.msgs")
            pipe.zcard(f"{_NAMESPACE}:{name}.XQ")
        counts = [int(n) for n in pipe.execute()]
    depths = []
    for i, name in enumerate(names):
        ready, held, delayed, dead = counts[4 * i : 4 * i + 4]
        depths.append(QueueDepth(name, ready, max(0, held - ready), delayed, dead))
    return depths
