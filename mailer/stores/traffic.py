"""Traffic over time, for the dashboard's charts: events per minute and per hour.

The delivery log counts every outcome per hour and type (``log:hourly:<hour>``); for the last
hour's picture it also counts them per minute, in ``log:minutely:<minute>`` hashes of
``event → n`` that live two hours. Both are written in the round trip that writes the outcome
(``DeliveryLog._count``), so a chart and the log cannot disagree. Reading a chart is one
pipelined ``HGETALL`` per bucket: 60 for the last hour, 168 for the last week.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis

from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Writes

#: The events counted: ``failed`` is an attempt that will be retried, ``dead`` one that won't.
EVENTS = ("sent", "failed", "dead", "throttled", "suppressed")
#: A minute's counts outlive the hour the chart shows by an hour, for a clock a little off.
MINUTE_TTL_S = 2 * 3600


def minute_key(prefix: str, minute: int) -> str:
    return namespaced(prefix, "log", "minutely", str(minute))


def count_minute_into(writes: Writes, prefix: str, now: float, event: str, n: int) -> None:
    """Add ``n`` ``event``s to the minute of ``now``, among a batch's ``writes``."""
    key = minute_key(prefix, int(now // 60))
    writes.hincrby(key, event, n)
    writes.expire(key, MINUTE_TTL_S)


@dataclass(frozen=True)
class Series:
    """Counts per bucket, oldest first: ``counts[event][i]`` in the bucket starting
    ``starts_s[i]`` (epoch seconds), each ``step_s`` long."""

    step_s: int
    starts_s: list[int]
    counts: dict[str, list[int]]

    def totals(self) -> Counter[str]:
        return Counter({event: sum(values) for event, values in self.counts.items()})


class Traffic:
    """Reads the per-minute and per-hour counts the delivery log keeps."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    def per_minute(self, minutes: int = 60, *, now: float | None = None) -> Series:
        last = int((time.time() if now is None else now) // 60)
        buckets = list(range(last - minutes + 1, last + 1))
        rows = self._read([minute_key(self.prefix, minute) for minute in buckets])
        return _series(60, [m * 60 for m in buckets], rows, lambda name: name)

    def per_hour(self, hours: int = 7 * 24, *, now: float | None = None) -> Series:
        last = int((time.time() if now is None else now) // 3600)
        buckets = list(range(last - hours + 1, last + 1))
        keys = [namespaced(self.prefix, "log", "hourly", str(hour)) for hour in buckets]
        rows = self._read(keys)
        # Hourly fields are "event|type": summed over the types here.
        return _series(3600, [h * 3600 for h in buckets], rows, lambda n: n.partition("|")[0])

    def per_type(self, hours: int = 24, *, now: float | None = None) -> dict[str, Counter[str]]:
        """Each email type's counts over the last ``hours``, from the hourly totals."""
        last = int((time.time() if now is None else now) // 3600)
        keys = [
            namespaced(self.prefix, "log", "hourly", str(h))
            for h in range(last - hours + 1, last + 1)
        ]
        found: dict[str, Counter[str]] = {}
        for row in self._read(keys):
            for name, n in row.items():
                event, _, template = name.partition("|")
                if event in EVENTS:
                    found.setdefault(template, Counter())[event] += n
        return found

    def _read(self, keys: list[str]) -> list[dict[str, int]]:
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            rows = pipe.execute()
        return [{bytes(k).decode(): int(v) for k, v in row.items()} for row in rows]


def _series(step_s: int, starts: list[int], rows: list[dict[str, int]], event_of: Any) -> Series:
    counts = {event: [0] * len(starts) for event in EVENTS}
    for i, row in enumerate(rows):
        for name, n in row.items():
            event = event_of(name)
            if event in counts:
                counts[event][i] += n
    return Series(step_s, starts, counts)
