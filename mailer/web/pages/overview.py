"""``/``: traffic charts, queue depths, live workers, failing types and the newest dead letters;
``/live``: the charts, depths and workers alone, which the page re-fetches to stay current."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mailer.stores.queue_depths import queue_depths
from mailer.stores.traffic import EVENTS, Traffic
from mailer.stores.workers import alive_workers
from mailer.web.charts import depth_chart, traffic_chart
from mailer.web.http import Request, Response
from mailer.web.pages import Services
from mailer.web.render import page

HOURS = 24
#: How often the page re-fetches ``/live``, unless ``?refresh=<s>`` asks otherwise.
REFRESH_S = 10
REFRESH_RANGE_S = range(1, 3601)
RECENT_DEAD = 10


@dataclass
class Totals:
    """Counts per event for one email type; ``failed`` is attempts that will be retried."""

    label: str
    counts: Counter[str] = field(default_factory=Counter)


def overview(request: Request, services: Services) -> Response:
    per_type = _traffic(services).per_type(HOURS)
    rows = [Totals(name, counts) for name, counts in per_type.items()]
    busiest = sorted(rows, key=lambda t: (-t.counts.total(), t.label))
    failing = [row for row in busiest if row.counts["failed"] or row.counts["dead"]]
    total: Counter[str] = sum((row.counts for row in rows), Counter())
    return page(
        request,
        "overview.html",
        events=EVENTS,
        total=total,
        templates=busiest,
        failing=failing,
        dead=services.dead_letters.list(limit=RECENT_DEAD),
        span_hours=HOURS,
        **{**live_context(services), "refresh_s": _refresh_s(request)},
    )


def live(request: Request, services: Services) -> Response:
    return page(
        request, "_live.html", **{**live_context(services), "refresh_s": _refresh_s(request)}
    )


def live_context(services: Services) -> dict[str, Any]:
    traffic = _traffic(services)
    depths = queue_depths(services.broker.client)
    timeout_s = services.settings.heartbeat_timeout_s
    return {
        "now": time.time(),
        "refresh_s": REFRESH_S,
        "per_minute": traffic_chart(
            "per-minute", "Per minute, last hour (UTC)", traffic.per_minute(60), "%H:%M"
        ),
        "per_hour": traffic_chart(
            "per-hour", "Per hour, last 7 days (UTC)", traffic.per_hour(7 * 24), "%a %H:00"
        ),
        "depth": depth_chart(depths),
        "depths": depths,
        "workers": alive_workers(services.broker.client, services.broker.namespace, timeout_s),
        "heartbeat_timeout_s": timeout_s,
    }


def _refresh_s(request: Request) -> int:
    asked = request.query.get("refresh", "")
    return int(asked) if asked.isdigit() and int(asked) in REFRESH_RANGE_S else REFRESH_S


def _traffic(services: Services) -> Traffic:
    return Traffic(services.log.client, prefix=services.log.prefix)
