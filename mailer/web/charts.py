"""Charts drawn on the server as SVG geometry, for the dashboard to work with no internet.

The page template (``_charts.html``) draws what these functions lay out: stacked columns of
events per time bucket, and queue depths per priority as stacked bars. Every number is
computed here, so the template only places rectangles and labels, all autoescaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from mailer.stores.queue_depths import QueueDepth
from mailer.stores.traffic import EVENTS, Series

COLOURS = {
    "sent": "#2e7d32",
    "failed": "#e08a00",
    "dead": "#c62828",
    "throttled": "#4a78b5",
    "suppressed": "#8a8f98",
    "ready": "#245c9e",
    "in_flight": "#2e7d32",
    "delayed": "#e08a00",
}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 170, 44, 22, 8
DEPTH_PARTS = ("ready", "in_flight", "delayed", "dead")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # what the bar counts, for its tooltip


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    width: int
    height: int
    bars: list[Bar]
    top_label: str
    x_labels: list[tuple[float, str]]
    legend: list[tuple[str, str]]
    totals: dict[str, int] = field(default_factory=dict)
    row_labels: list[tuple[float, str]] = field(default_factory=list)  # (baseline y, text)


def traffic_chart(chart_id: str, title: str, series: Series, time_format: str) -> Chart:
    """Stacked columns, one per bucket, events in ``EVENTS`` order from the bottom up."""
    n = len(series.starts_s)
    stacks = [sum(series.counts[e][i] for e in EVENTS) for i in range(n)]
    top = _nice_ceiling(max(stacks, default=0))
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    step = plot_w / max(n, 1)
    bars = []
    for i, start in enumerate(series.starts_s):
        when = _utc(start, time_format)
        base: float = HEIGHT - BOTTOM
        for event in EVENTS:
            count = series.counts[event][i]
            if not count:
                continue
            h = plot_h * count / top
            base -= h
            label = f"{when}: {count} {event}"
            bars.append(
                Bar(LEFT + i * step + 0.5, base, max(step - 1, 1), h, COLOURS[event], label)
            )
    labels = [(LEFT + i * step, _utc(series.starts_s[i], time_format)) for i in _ticks(n)]
    totals = dict(series.totals())
    legend = [(event, COLOURS[event]) for event in EVENTS]
    return Chart(chart_id, title, WIDTH, HEIGHT, bars, str(top), labels, legend, totals)


def depth_chart(depths: list[QueueDepth]) -> Chart:
    """One horizontal stacked bar per priority queue: ready, in flight, delayed, dead."""
    row_h, height = 26, 26 * len(depths) + BOTTOM
    widest = _nice_ceiling(max((_depth_total(d) for d in depths), default=0))
    plot_w = WIDTH - 150
    bars = []
    for row, depth in enumerate(depths):
        x = 150.0
        for part in DEPTH_PARTS:
            count = getattr(depth, part)
            if not count:
                continue
            w = plot_w * count / widest
            label = f"{depth.queue_name}: {count} {part.replace('_', ' ')}"
            bars.append(Bar(x, row * row_h + 4, w, row_h - 8, COLOURS.get(part, "#c62828"), label))
            x += w
    rows = [(row * row_h + row_h / 2 + 4, depth.queue_name) for row, depth in enumerate(depths)]
    legend = [(part.replace("_", " "), COLOURS.get(part, "#c62828")) for part in DEPTH_PARTS]
    totals = {part: sum(getattr(d, part) for d in depths) for part in DEPTH_PARTS}
    return Chart(
        "queue-depths", "Queue depth", WIDTH, height, bars, str(widest), [], legend, totals, rows
    )


def _depth_total(depth: QueueDepth) -> int:
    return sum(getattr(depth, part) for part in DEPTH_PARTS)


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times a power of ten at least ``value`` (1 for an empty chart)."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def _ticks(n: int) -> list[int]:
    return sorted({0, n // 4, n // 2, 3 * n // 4}) if n else []


def _utc(epoch_s: int, time_format: str) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime(time_format)
