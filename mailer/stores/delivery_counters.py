"""The delivery log's counters: totals per hour and type for the dashboard, per minute for its
charts, and all-time counters and a send-latency histogram for Prometheus.

They are written by the same pipelines that write the log's records, so the log and the
metrics can never disagree.
"""

from __future__ import annotations

import math

from mailer.stores.delivery_search import DeliverySearch
from mailer.stores.scripts import Writes
from mailer.stores.traffic import count_minute_into

__all__ = ["LATENCY_BUCKETS_S", "DeliveryCounters"]

#: Upper bounds of the send-latency histogram, in seconds (Prometheus ``le`` labels).
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DeliveryCounters(DeliverySearch):
    """Counting into the writes of a batch the log is already sending: no round trip of its
    own, and no pipeline entry per counter (``mailer.stores.scripts.Writes``)."""

    #: How long an hour's totals are kept: the log's retention (``DeliveryLog`` sets it).
    retention_s: int

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
