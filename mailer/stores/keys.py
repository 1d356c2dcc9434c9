"""mailer's own state in Redis, beside Dramatiq's queues: one client per process, one key scheme.

Rate-limit windows, schedules, idempotency keys, send receipts and the failover circuit all
live in the Redis the broker uses, so a deployment has one thing to run and back up, and
every worker and web process on every host sees the same state.
"""

from __future__ import annotations

import threading

import redis

from mailer import settings as mailer_settings

PREFIX = "mailer"

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def client(redis_url: str | None = None) -> redis.Redis:
    """The process's client for ``redis_url`` (default: the configured one), made on first use.

    redis-py's pool is thread-safe and reconnects after a fork, so one client serves every
    thread of a worker process.
    """
    url = redis_url or mailer_settings.current().redis_url
    with _lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url)
        return _clients[url]


def key(*parts: str) -> str:
    """A key in mailer's namespace: ``key("schedule", "due")`` is ``mailer:schedule:due``."""
    return ":".join((PREFIX, *parts))
