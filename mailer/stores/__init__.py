"""mailer's state in Redis, beside Dramatiq's queues: one class per kind of state.

Each store takes a Redis client in its constructor and never reads settings itself, as
dramatiq's ``rate_limits/backends/redis.py`` does. ``for_settings`` is the one place that turns
a process's settings into stores; everything else is handed the bundle, or one store of it.

Everything lives in the Redis the broker uses, so a deployment has one thing to run and back
up, and every worker and web process on every host sees the same state.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import redis

from mailer.settings import Settings
from mailer.stores.connection import connect
from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.failover import Failover
from mailer.stores.failure_log import FailureLog
from mailer.stores.idempotency_keys import IdempotencyKeys
from mailer.stores.inbox import NotificationStore
from mailer.stores.rate_limiter import RateLimiter, limits_for
from mailer.stores.receipts import Receipts
from mailer.stores.schedules import ScheduleStore
from mailer.stores.suppression import SuppressionList

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """This process's client for ``url``, made on first use.

    redis-py's pool is thread-safe and reconnects after a fork, so one client serves every
    thread of a process.
    """
    with _clients_lock:
        if url not in _clients:
            _clients[url] = connect(url)
        return _clients[url]


@dataclass(frozen=True)
class Stores:
    """Every store of one Redis, configured from one settings object."""

    client: redis.Redis = field(repr=False)
    delivery_log: DeliveryLog
    failure_log: FailureLog
    receipts: Receipts
    idempotency_keys: IdempotencyKeys
    schedules: ScheduleStore
    suppression: SuppressionList
    failover: Failover
    rate_limiter: RateLimiter
    inbox: NotificationStore


@functools.lru_cache(maxsize=8)
def for_settings(settings: Settings) -> Stores:
    """The stores these settings describe, built once per settings object."""
    client = redis_client(settings.redis_url)
    return Stores(
        client=client,
        delivery_log=DeliveryLog(client, retention_s=settings.log_retention_s),
        failure_log=FailureLog(client),
        # A claim lasts as long as Dramatiq waits before it redelivers a dead worker's
        # messages, so a redelivered message finds it expired.
        receipts=Receipts(
            client, ttl_s=settings.idempotency_ttl_s, lease_s=settings.heartbeat_timeout_s
        ),
        idempotency_keys=IdempotencyKeys(client, settings.idempotency_ttl_s),
        schedules=ScheduleStore(client),
        suppression=SuppressionList(client),
        failover=Failover(
            client,
            settings.backend,
            settings.fallback_backend,
            after=settings.failover_after,
            cooldown_s=settings.failover_cooldown_s,
        ),
        rate_limiter=RateLimiter(client, limits_for(settings)),
        inbox=NotificationStore(
            client,
            per_user=settings.notifications_per_user,
            key_ttl_s=settings.idempotency_ttl_s,
        ),
    )
