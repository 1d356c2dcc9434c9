"""``GET /metrics`` in Prometheus's text format, for every worker on every host at once.

Workers on a platform like Heroku cannot be scraped one by one, and a per-process exporter
would lose its counts at each restart. So the workers count into Redis, in the same writes
that keep the delivery log (``mailer.stores.delivery_log``), and any web process renders the totals:
emails sent, failed, dead and throttled per backend and type, the send-latency histogram,
and the queues' depths.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mailer import stores
from mailer.settings import Settings
from mailer.stores.delivery_log import LATENCY_BUCKETS_S
from mailer.stores.delivery_search import DeliverySearch
from mailer.stores.queue_depths import queue_depths

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RedisCollector(Collector):
    def __init__(self, log: DeliverySearch) -> None:
        self.log = log
        self.client = log.client

    def collect(self) -> Iterator[Metric]:
        yield self._emails()
        yield self._latency()
        yield self._queues()

    def _emails(self) -> Metric:
        family = CounterMetricFamily(
            "mailer_emails",
            "Email delivery events: sent, failed (retried), dead, throttled (put back).",
            labels=["event", "backend", "template"],
        )
        for field, value in sorted(self.client.hgetall(self.log.metrics_key("events")).items()):
            event, backend, template = bytes(field).decode().split("|", 2)
            family.add_metric([event, backend, template], int(value))
        return family

    def _latency(self) -> Metric:
        raw = {
            bytes(k).decode(): float(v)
            for k, v in self.client.hgetall(self.log.metrics_key("latency")).items()
        }
        cumulative, buckets = 0.0, []
        for bound in (*LATENCY_BUCKETS_S, math.inf):
            cumulative += raw.get(f"le|{bound}", 0.0)
            buckets.append(("+Inf" if bound == math.inf else str(bound), cumulative))
        family = HistogramMetricFamily(
            "mailer_send_duration_seconds",
            "Time a worker took over one sent email: rendering, rate limit and provider call.",
        )
        family.add_metric([], buckets, sum_value=raw.get("sum", 0.0))
        return family

    def _queues(self) -> Metric:
        family = GaugeMetricFamily(
            "mailer_queue_messages",
            "Messages per priority queue: ready, in flight, delayed, dead-lettered.",
            labels=["queue", "state"],
        )
        for depth in queue_depths(self.client):
            for state in ("ready", "in_flight", "delayed", "dead"):
                family.add_metric([depth.queue_name, state], getattr(depth, state))
        return family


def render(log: DeliverySearch) -> bytes:
    """The metrics the delivery log counts, and the queues' depths, in one exposition."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(log))
    return generate_latest(registry)


def app_for(settings: Settings) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The exporter on the Redis ``settings`` name."""
    log = stores.for_settings(settings).delivery_log

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            body = render(log)
        except redis.RedisError as err:
            message = f"redis unavailable: {type(err).__name__}\n".encode()
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [message]
        headers = [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    return app
