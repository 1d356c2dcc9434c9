"""The worker processes alive now, read from the heartbeats Dramatiq's Redis broker keeps.

Each consumer refreshes its score in ``<namespace>:__heartbeats__`` (epoch ms) as it fetches;
one whose heartbeat is older than the broker's timeout is dead and its messages go back to
the queues. A stopped worker's entry lingers until some worker's maintenance pass removes it,
which is why the raw view lists stopped workers: this one lists only those within the timeout.
The messages each holds are its ``__acks__`` sets, one per queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from mailer.priorities import LEVELS


@dataclass(frozen=True)
class Worker:
    worker_id: str
    last_heartbeat_s: float  # epoch seconds
    in_flight: int


def alive_workers(
    client: redis.Redis,
    namespace: str,
    heartbeat_timeout_s: float,
    queue_names: Iterable[str] | None = None,
    *,
    now: float | None = None,
) -> list[Worker]:
    """Workers heard from within ``heartbeat_timeout_s``, most recently heard first."""
    since_ms = ((time.time() if now is None else now) - heartbeat_timeout_s) * 1000
    beats = client.zrevrangebyscore(
        f"{namespace}:__heartbeats__", "+inf", since_ms, withscores=True
    )
    names = list(queue_names or [level.queue_name for level in LEVELS.values()])
    with client.pipeline(transaction=False) as pipe:
        for member, _ in beats:
            for name in names:
                pipe.scard(f"{namespace}:__acks__.{bytes(member).decode()}.{name}")
        counts = pipe.execute()
    workers = []
    for i, (member, score) in enumerate(beats):
        held = sum(int(n) for n in counts[i * len(names) : (i + 1) * len(names)])
        workers.append(Worker(bytes(member).decode(), float(score) / 1000, held))
    return workers
