"""Read Dramatiq's Redis structures the way an operator would: dead letters, queue sizes."""

from __future__ import annotations

import json
from typing import Any

import redis

from mailer.priorities import LEVELS

NAMESPACE = "dramatiq"


def dead_letters(redis_url: str) -> list[dict[str, Any]]:
    """Every dead-lettered message, decoded, across mailer's priority queues."""
    client = redis.Redis.from_url(redis_url)
    try:
        found = []
        for level in LEVELS.values():
            xq = f"{NAMESPACE}:{level.queue_name}.XQ"
            for message_id in client.zrange(xq, 0, -1):
                raw = client.hget(f"{xq}.msgs", message_id)
                if raw is not None:
                    found.append(json.loads(raw))
        return found
    finally:
        client.close()
