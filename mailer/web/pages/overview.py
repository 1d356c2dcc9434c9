"""``/``: the last 24 hours at a glance, per hour and per email type."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mailer.web.http import Request, Response
from mailer.web.pages import Services
from mailer.web.render import page

#: The events the log counts per hour: what the overview's columns show.
EVENTS = ("sent", "failed", "dead", "throttled", "suppressed")
HOURS = 24


@dataclass
class Totals:
    """Counts per event; ``failed`` is attempts that will be retried."""

    label: str
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, event: str, n: int) -> None:
        self.counts[event] += n


def overview(request: Request, services: Services) -> Response:
    hours, templates, total = summarise(services.log.hourly_totals(HOURS))
    return page(
        request,
        "overview.html",
        events=EVENTS,
        hours=hours,
        templates=templates,
        total=total,
        span_hours=HOURS,
    )


def summarise(
    rows: list[tuple[int, dict[str, int]]],
) -> tuple[list[tuple[int, Totals]], list[Totals], Totals]:
    """Per hour (newest first), per template (busiest first), and overall."""
    by_template: dict[str, Totals] = {}
    total = Totals("all")
    hours: list[tuple[int, Totals]] = []
    for hour_start_s, fields in rows:
        hour = Totals(str(hour_start_s))
        for name, n in fields.items():
            event, _, template = name.partition("|")
            if event not in EVENTS:
                continue
            hour.add(event, n)
            total.add(event, n)
            by_template.setdefault(template, Totals(template)).add(event, n)
        hours.append((hour_start_s, hour))
    busiest = sorted(by_template.values(), key=lambda t: (-t.counts.total(), t.label))
    return hours[::-1], busiest, total
