"""A week of failed sends in Redis, read by the daily digest that tells the administrators.

Dead letters say what failed for good, but not what kept failing and then went through, nor
why: each worker records every failed attempt here (``RecordFailures``), with the error the
provider gave, so one email a day (``mailer.actors.digest``) can say which email types fail,
to whom, and how.

The log is one sorted set of JSON scored by time, trimmed by age and by count on every write,
so a provider outage that fails a million sends still costs a bounded few megabytes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Batch

KEEP_S = 7 * 24 * 3600
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Failure:
    """One failed attempt to send ``message_id``; ``final`` when it was dead-lettered.

    ``retries`` is Dramatiq's count once it has dealt with the attempt: the failed attempts so
    far, this one included unless it failed permanently at once.
    """

    message_id: str
    template: str
    to: list[str]
    error: str
    final: bool
    retries: int
    at: float


class FailureLog:
    """Failed attempts of the last ``keep_s`` seconds, at most ``max_entries`` of them."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        keep_s: int = KEEP_S,
        max_entries: int = MAX_ENTRIES,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.client = client
        self.keep_s = keep_s
        self.max_entries = max_entries
        self.key = namespaced(prefix, "failures")

    def record(
        self,
        *,
        message_id: str,
        template: str,
        to: list[str],
        error: str,
        final: bool,
        retries: int,
        at: float | None = None,
    ) -> Failure:
        """Add one failure and drop what is too old or too many, in one round trip."""
        at = time.time() if at is None else at
        failure = Failure(message_id, template, list(to), error, final, retries, at)
        batch = Batch(self.client)
        self.add_into(batch, failure)
        batch.execute()
        return failure

    def add_into(self, batch: Batch, failure: Failure) -> None:
        """``record`` as part of ``batch``."""
        now, pipe = time.time(), batch.pipe
        pipe.zadd(self.key, {json.dumps(asdict(failure)): failure.at})
        pipe.zremrangebyscore(self.key, "-inf", f"({now - self.keep_s}")
        pipe.zremrangebyrank(self.key, 0, -self.max_entries - 1)
        pipe.expire(self.key, self.keep_s)

    def since(self, t: float) -> list[Failure]:
        """Failures at or after epoch second ``t``, newest first."""
        return [_decode(raw) for raw in self.client.zrevrangebyscore(self.key, "+inf", t)]


def _decode(raw: bytes) -> Failure:
    data: dict[str, Any] = json.loads(raw)
    return Failure(**data)
