"""The worker processes alive now, read from the heartbeats Dramatiq's Redis broker keeps.

Each consumer refreshes its score in ``<namespace>:__heartbeats__`` (epoch ms) as it fetches;
one whose heartbeat is older than the broker's timeout is dead and its messages go back to
the queues. A stopped worker's entry lingers until some worker's maintenance pass removes it,
which is why the raw view lists stopped workers: this one lists only those within the timeout.
The messages each holds are its ``__acks__`` sets, one per queue.

Every process that talks to the broker refreshes that heartbeat, a web process enqueueing
included, so a worker also says it is one: at boot it adds its broker id, host and pid to
``mailer:workers`` (``register``), and takes them off when it stops. Listed are the ids that
are both registered and heard from within the timeout; a worker killed outright stays
registered, but its heartbeat stops, so it is not listed.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from mailer.priorities import LEVELS
from mailer.stores.keys import DEFAULT_PREFIX, namespaced


@dataclass(frozen=True)
class Worker:
    worker_id: str
    last_heartbeat_s: float  # epoch seconds
    in_flight: int
    host: str = ""
    pid: int | None = None
    started_s: float | None = None


def registry_key(prefix: str = DEFAULT_PREFIX) -> str:
    return namespaced(prefix, "workers")


def register(client: redis.Redis, worker_id: str, *, prefix: str = DEFAULT_PREFIX) -> None:
    """This process is a worker: its broker's id, with its host, pid and start time."""
    about = {"host": socket.gethostname(), "pid": os.getpid(), "started_s": time.time()}
    client.hset(registry_key(prefix), worker_id, json.dumps(about))


def unregister(client: redis.Redis, worker_id: str, *, prefix: str = DEFAULT_PREFIX) -> None:
    client.hdel(registry_key(prefix), worker_id)


def alive_workers(
    client: redis.Redis,
    namespace: str,
    heartbeat_timeout_s: float,
    queue_names: Iterable[str] | None = None,
    *,
    now: float | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> list[Worker]:
    """Registered workers heard from within ``heartbeat_timeout_s``, most recent first."""
    since_ms = ((time.time() if now is None else now) - heartbeat_timeout_s) * 1000
    beats = client.zrevrangebyscore(
        f"{namespace}:__heartbeats__", "+inf", since_ms, withscores=True
    )
    ids = [bytes(member).decode() for member, _ in beats]
    if not ids:
        return []
    names = list(queue_names or [level.queue_name for level in LEVELS.values()])
    with client.pipeline(transaction=False) as pipe:
        pipe.hmget(registry_key(prefix), ids)
        for worker_id in ids:
            for name in names:
                pipe.scard(f"{namespace}:__acks__.{worker_id}.{name}")
        about, *counts = pipe.execute()
    workers = []
    for i, (worker_id, (_, score), raw) in enumerate(zip(ids, beats, about, strict=True)):
        if raw is None:
            continue  # a process that only enqueues: a web process, the scheduler's tick
        held = sum(int(n) for n in counts[i * len(names) : (i + 1) * len(names)])
        workers.append(Worker(worker_id, float(score) / 1000, held, **json.loads(raw)))
    return workers
