"""The delivery log's counters: totals per hour and type for the dashboard, per minute for its
charts, and all-time counters and a send-latency histogram for Prometheus.

They are written by the same pipelines that write the log's records, so the log and the
metrics can never disagree.
"""

from __future__ import annotations

import math
from typing import Any

from mailer.stores.delivery_search import DeliverySearch
from mailer.stores.traffic import count_minute_into

__all__ = ["LATENCY_BUCKETS_S", "DeliveryCounters"]

#: Upper bounds of the send-latency histogram, in seconds (Prometheus ``le`` labels).
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DeliveryCounters(DeliverySearch):
    """Counting into a pipeline the log is already writing: no round trip of its own."""

    #: How long an hour's totals are kept: the log's retention (``DeliveryLog`` sets it).
    retention_s: int

    def _count(
        self, pipe: Any, now: float, event: str, backend: str, template: str, n: int
    ) -> None:
        pipe.hincrby(self.metrics_key("events"), f"{event}|{backend}|{template}", n)
        hour = self.hourly_key(int(now // 3600))
        pipe.hincrby(hour, f"{event}|{template}", n)
        pipe.expire(hour, self.retention_s)
        count_minute_into(pipe, self.prefix, now, event, n)

    def _observe(self, pipe: Any, latency_s: float) -> None:
        histogram = self.metrics_key("latency")
        bucket = next((b for b in LATENCY_BUCKETS_S if latency_s <= b), math.inf)
        pipe.hincrby(histogram, f"le|{bucket}", 1)
        pipe.hincrbyfloat(histogram, "sum", latency_s)
        pipe.hincrby(histogram, "count", 1)
