"""Every benchmark in one go, then one summary table.

Each runs in a process of its own: mailer reads its settings once, when its broker is first
imported, so every benchmark needs a fresh process (and gets its own private Redis, unless
``REDIS_URL`` names one). Their full output is shown as they run.

    python -m bench.run [--quick] [--latency-n 5000] [--throughput-n 2000] [--backlog 20000]
                        [--rate-limit-n 2000] [--schedules-n 10000]
                        [--bulk-n 100000] [--notification-n 200] [--idle-n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, bench_parser

# A smoke run's sizes: every code path in seconds, the figures only indicative.
QUICK = {
    "latency_n": 1_000,
    "throughput_n": 300,
    "throughput_rounds": 1,
    "backlog": 3_000,
    "rate_limit_n": 300,
    "schedules_n": 2_000,
    "bulk_n": 10_000,
    "notification_n": 50,
    "idle_n": 40,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, getattr(args, name) or value)
    extra = ["--redis-url", args.redis_url] if args.redis_url else []
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as directory:
        results = {
            name: _run(name, options + extra, Path(directory))
            for name, options in _commands(args).items()
        }
    print(_table(results))
    return 0 if all(results.values()) else 1


def _commands(args: argparse.Namespace) -> dict[str, list[str]]:
    def given(option: str, value: object) -> list[str]:
        return [] if value is None else [option, str(value)]

    return {
        "send_latency": given("--n", args.latency_n),
        "idle_latency": given("--n", args.idle_n),
        "throughput": given("--n", args.throughput_n) + given("--rounds", args.throughput_rounds),
        "priority": given("--backlog", args.backlog),
        "rate_limit": given("--n", args.rate_limit_n),
        "schedules": given("--n", args.schedules_n),
        "bulk_enqueue": given("--n", args.bulk_n),
        "notification_latency": given("--n", args.notification_n),
    }


def _run(name: str, options: list[str], directory: Path) -> dict[str, Any] | None:
    """One benchmark in its own process; its figures, or None if it failed."""
    path = directory / f"{name}.json"
    command = [sys.executable, "-m", f"bench.{name}", *options, "--json", str(path)]
    print(f"$ python -m bench.{name} {' '.join(options)}".rstrip(), flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # interleave its lines with ours in order
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False)
    print(flush=True)
    if completed.returncode != 0 or not path.exists():
        return None
    figures: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return figures


def _table(results: dict[str, dict[str, Any] | None]) -> str:
    header = ("benchmark", "figure", "baseline", "ratio", "goal", "verdict")
    rows: list[tuple[str, ...]] = [header]
    for name, row in (
        ("send_latency", _latency_row),
        ("idle_latency", _idle_row),
        ("throughput", _throughput_row),
        ("priority", _priority_row),
        ("rate_limit", _rate_limit_row),
        ("schedules", _schedules_row),
        ("bulk_enqueue", _bulk_row),
        ("notification_latency", _notification_row),
    ):
        figures = results[name]
        rows.append(row(figures) if figures else (name, "FAILED", "", "", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    rule = "-" * len(lines[0])
    return "\n".join(
        [
            "summary (figures and baselines measured in the same run)",
            rule,
            lines[0],
            rule,
            *lines[1:],
            rule,
        ]
    )


def _bulk_row(figures: dict[str, Any]) -> tuple[str, ...]:
    seconds, rss = figures["seconds"], figures["peak_rss_mb"]
    met = seconds <= figures["goal_s"] and rss <= figures["goal_rss_mb"]
    return (
        f"send_bulk, {figures['n']:,} recipients",
        f"{seconds:.2f} s, peak {rss:.0f} MB",
        f"send_email loop: {figures['send_email_scaled_s']:.1f} s",
        f"{figures['speedup']:.1f}x faster",
        f"≤ {figures['goal_s']:g} s, ≤ {figures['goal_rss_mb']:g} MB",
        "met" if met else "MISSED",
    )


def _notification_row(figures: dict[str, Any]) -> tuple[str, ...]:
    stream = figures["stream"]
    return (
        "notify → SSE frame, p50 / max",
        f"{stream['p50']:.2f} / {stream['max']:.2f} ms",
        f"+{figures['p50_over_baseline_ms']:.2f} ms over bare XADD→XREAD",
        "",
        f"< {figures['goal_ms']:.0f} ms",
        "met" if stream["max"] < figures["goal_ms"] else "MISSED",
    )


def _latency_row(figures: dict[str, Any]) -> tuple[str, ...]:
    """The run with the highest ratio: the goal holds in every run or not at all."""
    goal = figures["goal"]
    worst = max(figures["runs"], key=lambda run: run["ratio_p50"])
    series, ratio = worst["series"], worst["ratio_p50"]
    new, bare = series["send_email, new recipient"], series["bare actor.send()"]
    ratios = "/".join(f"{r:.2f}" for r in figures["ratios_p50"])
    return (
        "send_email p50, new recipient (worst run)",
        f"{new['p50']:.1f} µs",
        f"{bare['p50']:.1f} µs bare .send()",
        f"{ratio:.2f}x ({ratios})",
        f"≤ {goal:.2f}x",
        "met" if figures["met_every_run"] else "MISSED",
    )


def _idle_row(figures: dict[str, Any]) -> tuple[str, ...]:
    modes = figures["modes"]
    woken, polled = modes["wake on arrival"], modes["poll (before)"]
    met = (
        figures["p50_ms"] <= figures["goal_p50_ms"]
        and figures["p99_ms"] <= figures["goal_p99_ms"]
        and woken["idle_commands_per_s"] <= polled["idle_commands_per_s"]
    )
    return (
        "idle worker: send_email → SMTP, p50/p99",
        f"{figures['p50_ms']:.1f}/{figures['p99_ms']:.1f} ms",
        f"polling: {polled['latency_ms']['p50']:.1f}/{polled['latency_ms']['p99']:.1f} ms",
        f"idle {woken['idle_commands_per_s']:.0f} vs {polled['idle_commands_per_s']:.0f} cmd/s",
        f"≤ {figures['goal_p50_ms']:g}/{figures['goal_p99_ms']:g} ms",
        "met" if met else "MISSED",
    )


def _throughput_row(figures: dict[str, Any]) -> tuple[str, ...]:
    shape, widest = max(figures["summary"].items(), key=lambda item: item[0])
    rates, cpu = widest["emails_per_s"], widest["cpu_ms_per_email"]
    return (
        f"worker emails/s, {shape}",
        f"{rates['mailer']:.1f} ({cpu['mailer']:.2f} ms CPU/email)",
        f"{rates['hand-written']:.1f} hand-written actor ({cpu['hand-written']:.2f} ms)",
        f"{widest['ratio']:.2f}x",
        "≥ 2x",
        "met" if widest["ratio"] >= 2 else "MISSED",
    )


def _priority_row(figures: dict[str, Any]) -> tuple[str, ...]:
    worst, target = figures["max_latency_s"], figures["target_s"]
    backlog = min(figures["low_queued"])
    return (
        "critical email latency, max",
        "not all arrived" if worst is None else f"{worst * 1000:.1f} ms",
        f"≥ {backlog:,} low queued",
        "",
        f"≤ {target * 1000:.0f} ms",
        "met" if worst is not None and worst <= target else "MISSED",
    )


def _rate_limit_row(figures: dict[str, Any]) -> tuple[str, ...]:
    limit, busiest, share = figures["limit"], figures["busiest_window"], figures["share"]
    met = busiest <= limit and share >= figures["goal_share"]
    return (
        f"rate limit {limit}/s, {figures['processes']} x {figures['threads']} threads",
        f"max {busiest} in 1 s, mean {figures['mean_per_s']:.1f}/s",
        f"{figures['baseline_per_s']:.1f}/s unlimited",
        f"{share:.1%} used",
        f"≤ {limit}, ≥ {figures['goal_share']:.0%}",
        "met" if met else "MISSED",
    )


def _schedules_row(figures: dict[str, Any]) -> tuple[str, ...]:
    seconds = figures["seconds"]
    fired, plain = seconds["fire_due"], seconds["plain broker.enqueue"]
    return (
        f"{figures['n']:,} due schedule entries enqueued",
        f"{fired:.2f} s",
        f"{plain:.2f} s plain enqueues",
        f"{figures['ratio']:.2f}x",
        "",
        "",
    )


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.run", __doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--latency-n", type=int, help="send_latency --n")
    parser.add_argument("--throughput-n", type=int, help="throughput --n")
    parser.add_argument("--throughput-rounds", type=int, help="throughput --rounds")
    parser.add_argument("--backlog", type=int, help="priority --backlog")
    parser.add_argument("--rate-limit-n", type=int, help="rate_limit --n")
    parser.add_argument("--schedules-n", type=int, help="schedules --n")
    parser.add_argument("--bulk-n", type=int, help="bulk_enqueue --n")
    parser.add_argument("--notification-n", type=int, help="notification_latency --n")
    parser.add_argument("--idle-n", type=int, help="idle_latency --n")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="an idle Redis")
    return parser


if __name__ == "__main__":
    sys.exit(main())
