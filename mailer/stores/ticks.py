"""Which periodic ticks have run: the first worker to take a tick's message claims it.

A tick is named by its actor and its scheduled instant (epoch seconds), so schedulers in
different time zones agree on it.
"""

from __future__ import annotations

import redis

from mailer.stores.keys import DEFAULT_PREFIX, namespaced

#: Ticks are a minute apart at the closest; a day covers any clock skew between hosts.
CLAIM_TTL_S = 24 * 3600


class TickClaims:
    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    def claim(self, actor_name: str, instant: int, message_id: str) -> bool:
        """True for the first claim of this tick; every later copy gets False."""
        name = namespaced(self.prefix, "tick", actor_name, str(instant))
        return bool(self.client.set(name, message_id, nx=True, ex=CLAIM_TTL_S))
