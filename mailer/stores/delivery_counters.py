"""The delivery log's counters: totals per hour and type for the dashboard, per minute for its
charts, and all-time counters and a send-latency histogram for Prometheus.

They are written by the same pipelines that write the log's records, so the log and the
metrics can never disagree.
"""

from __future__ import annotations

import math
import time

from mailer.stores.delivery_search import DeliverySearch
from mailer.stores.scripts import Writes
from mailer.stores.traffic import count_minute_into

__all__ = ["LATENCY_BUCKETS_S", "DeliveryCounters"]

#: Upper bounds of the send-latency histogram, in seconds (Prometheus ``le`` labels).
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DeliveryCounters(DeliverySearch):
    """Counting into the writes of a batch the log is already sending: no round trip of its
    own, and no pipeline entry per counter (``mailer.stores.scripts.Writes``)."""

    def _count(
        self, writes: Writes, now: float, event: str, backend: str, template: str, n: int
    ) -> None:
        writes.hincrby(self.metrics_key("events"), f"{event}|{backend}|{template}", n)
        hour = self.hourly_key(int(now // 3600))
        writes.hincrby(hour, f"{event}|{template}", n)
        writes.expire(hour, self.retention_s)
        count_minute_into(writes, self.prefix, now, event, n)

    def _observe(self, writes: Writes, latency_s: float) -> None:
        histogram = self.metrics_key("latency")
        bucket = next((b for b in LATENCY_BUCKETS_S if latency_s <= b), math.inf)
        writes.hincrby(histogram, f"le|{bucket}", 1)
        writes.hincrbyfloat(histogram, "sum", latency_s)
        writes.hincrby(histogram, "count", 1)

    def hourly_totals(self, hours: int = 24) -> list[tuple[int, dict[str, int]]]:
        """``[(hour start as epoch s, {"sent|welcome": n, ...}), ...]``, oldest first."""
        this_hour = int(time.time() // 3600)
        hours_wanted = range(this_hour - hours + 1, this_hour + 1)
        with self.client.pipeline(transaction=False) as pipe:
            for hour in hours_wanted:
                pipe.hgetall(self.hourly_key(hour))
            rows = pipe.execute()
        return [
            (hour * 3600, {bytes(k).decode(): int(v) for k, v in row.items()})
            for hour, row in zip(hours_wanted, rows, strict=True)
        ]
