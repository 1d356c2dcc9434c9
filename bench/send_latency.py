"""What ``send_email`` costs the caller (a web request), next to a bare Dramatiq ``.send()``.

Both enqueue through mailer's broker, middleware and Redis with the same JSON arguments, so the
difference is what mailer adds at the call site: argument checks, address validation and the
template's variable check. Goal: a median at most 1.2 times the bare call's.

Each of ``--runs`` runs prints its own figures; the goal holds only if it holds in every run.
Three series run in blocks whose order rotates, so a busy machine's drift falls on all alike:

- ``send_email`` to a new recipient each call, as every welcome email goes to a new user;
- ``send_email`` to one recipient over and over, whose address is then validated only once;
- a bare actor's ``.send()`` with the very envelope ``send_email`` would have queued.

Beside the per-call times, each series' process CPU per call: what ``send_email`` costs the
caller's process in all. The delivery log's ``queued`` records are no part of it: the enqueue
leaves each new email on the log's unrecorded list, and a worker's thread (or the first read
of the log) writes them. After each run the benchmark writes them itself, and prints that
CPU per email apart.
Above the goal, cProfile breaks ``send_email`` down by callee to show where the rest goes.
No worker runs; the benchmark's messages are purged at the end.

    python -m bench.send_latency [--runs 3] [--n 5000] [--warmup 500] [--block 100] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import (
    REPO_ROOT,
    SENDER,
    BenchRedis,
    add_common_options,
    bench_parser,
    run_on_bench_redis,
    summarise,
)

TEMPLATE = "welcome"
CONTEXT = {"name": "Ann"}
BARE_QUEUE = "bench_bare"
GOAL = 1.2
# Where the bare send's share of the profile lives; not worth expanding in the breakdown.
_BARE_SEND_CODE = ("/dramatiq/", "/redis/")

Call = Callable[[int], str]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_on_bench_redis(_parser().parse_args(argv), run)


def run(server: BenchRedis, args: argparse.Namespace) -> dict[str, Any]:
    from mailer.actors.emails import lookup

    print(f"send_latency: {args.runs} runs of {args.n:,} calls per series after {args.warmup:,}")
    print(f"  warm-up calls, in blocks of {args.block}, on the {server.describe()}")
    per_run = args.n + args.warmup
    series, sent = _series(args.runs * per_run + args.profile_n)
    runs = []
    for number in range(args.runs):
        print(f"  run {number + 1} of {args.runs}:")
        samples, cpu = _measure(series, args.n, args.warmup, args.block, offset=number * per_run)
        runs.append({**_report(samples, cpu, args.goal), **_record_queued()})
    ratios = [run["ratio_p50"] for run in runs]
    met = all(ratio <= args.goal for ratio in ratios)
    shown = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
    print(f"  p50 ratio per run: {shown}: {'within' if met else 'ABOVE'} {args.goal}x in every run")
    figures = {"runs": runs, "ratios_p50": ratios, "goal": args.goal, "met_every_run": met}
    if args.profile or (not met and not args.no_profile):
        _profile(series["send_email, new recipient"], args.profile_n, args.runs * per_run)
    purged = server.purge([lookup(TEMPLATE).priority.queue_name, BARE_QUEUE], sent)
    print(f"  purged {purged:,} queued messages")
    return figures


def _series(count: int) -> tuple[dict[str, Call], set[str]]:
    """The three callables, each taking a call number; ``sent`` collects every message id."""
    import dramatiq

    from mailer.actors import broker
    from mailer.api.email import send_email
    from mailer.envelope import Email

    def bare(envelope: dict[str, Any], context: dict[str, Any]) -> None:
        """Never runs: no worker consumes this queue."""

    actor = dramatiq.actor(bare, actor_name="bench_bare_send", queue_name=BARE_QUEUE, broker=broker)
    recipients = [f"user{i}@example.com" for i in range(count)]
    envelopes = [Email(to=[to], from_email=SENDER, tags=[TEMPLATE]).to_json() for to in recipients]
    sent: set[str] = set()

    def new_recipient(i: int) -> str:
        return send_email(TEMPLATE, to=recipients[i], context=CONTEXT)

    def same_recipient(i: int) -> str:
        return send_email(TEMPLATE, to="ann@example.com", context=CONTEXT)

    def bare_send(i: int) -> str:
        return str(actor.send(envelopes[i], CONTEXT).message_id)

    calls = {
        "send_email, new recipient": new_recipient,
        "send_email, same recipient": same_recipient,
        "bare actor.send()": bare_send,
    }
    return {name: _collecting(call, sent) for name, call in calls.items()}, sent


def _collecting(call: Call, sent: set[str]) -> Call:
    def wrapped(i: int) -> str:
        message_id = call(i)
        sent.add(message_id)
        return message_id

    return wrapped


def _record_queued() -> dict[str, float]:
    """Write the run's ``queued`` records as a worker's thread would, and time it."""
    from mailer.middleware.log_deliveries import flush_queued
    from mailer.settings import current
    from mailer.stores import for_settings

    log = for_settings(current()).delivery_log
    waiting = int(log.client.llen(log.unrecorded_key))
    before = time.process_time()
    flush_queued()
    cpu_us = (time.process_time() - before) / max(1, waiting) * 1e6
    print(
        f"    queued records, written out of the caller's process (a worker's thread, or the"
        f" first read of the log): {waiting:,} emails, {cpu_us:.1f} µs CPU each"
    )
    return {"queued_records": waiting, "record_cpu_us": cpu_us}


def _measure(
    series: dict[str, Call], n: int, warmup: int, block: int, offset: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per-call times in µs, the series taking turns block by block, the order rotating; and
    each series' process CPU per call in µs."""
    names = list(series)
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu_s = dict.fromkeys(names, 0.0)
    gc.collect()
    clock = time.perf_counter_ns
    for start in range(offset, offset + n + warmup, block):
        shift = (start // block) % len(names)
        for name in names[shift:] + names[:shift]:
            call, times = series[name], samples[name]
            cpu_before = time.process_time()
            for i in range(start, min(start + block, offset + n + warmup)):
                # The id bookkeeping in ``call`` is timed too, alike for every series.
                begun = clock()
                call(i)
                times.append((clock() - begun) / 1000)
            if start >= offset + warmup:
                cpu_s[name] += time.process_time() - cpu_before
    cpu_per_call = {name: seconds / n * 1e6 for name, seconds in cpu_s.items()}
    return {name: times[warmup:] for name, times in samples.items()}, cpu_per_call


def _report(
    samples: dict[str, list[float]], cpu_us: dict[str, float], goal: float
) -> dict[str, Any]:
    summaries = {name: summarise(times) for name, times in samples.items()}
    bare = summaries["bare actor.send()"]
    print(f"    {'':28} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8} {'CPU µs':>7} {'p50 ratio':>9}")
    for name, summary in summaries.items():
        print(
            f"    {name:28} {summary.p50:8.1f} {summary.p99:8.1f} {summary.mean:8.1f}"
            f" {cpu_us[name]:7.1f} {summary.p50 / bare.p50:8.2f}x"
        )
    new, same = summaries["send_email, new recipient"], summaries["send_email, same recipient"]
    ratio = new.p50 / bare.p50
    verdict = "within" if ratio <= goal else "ABOVE"
    cpu_ratio = cpu_us["send_email, new recipient"] / cpu_us["bare actor.send()"]
    print(
        f"    ratio (p50, new recipient): {ratio:.2f}x the bare send, {verdict} the goal of"
        f" {goal}x; process CPU per call {cpu_ratio:.2f}x"
    )
    return {
        "series": summaries,
        "cpu_us_per_call": cpu_us,
        "ratio_p50": ratio,
        "ratio_mean": new.mean / bare.mean,
        "ratio_p50_same_recipient": same.p50 / bare.p50,
        "ratio_cpu": cpu_ratio,
    }


def _profile(call: Call, n: int, offset: int) -> None:
    """Where ``send_email`` spends its time, by callee; the profiler inflates Python code more
    than socket waits, so shares are indicative and the timings above are the reference."""
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(offset, offset + n):
        call(i)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    root = next(k for k in stats if k[2] == "send_email" and k[0].endswith("email.py"))
    calls, total = stats[root][1], stats[root][3]
    print(f"  cProfile, {n:,} calls of send_email with new recipients (µs per send_email call):")
    print(f"    {total / calls * 1e6:8.1f} µs  100.0%  send_email, of which")
    _print_callees(stats, root, calls, total, depth=1)


def _print_callees(
    stats: dict[Any, Any], parent: Any, calls: int, total: float, depth: int
) -> None:
    """Callees of ``parent`` with the time spent in them when called from it, biggest first."""
    edges = [(callers[parent][3], key) for key, (*_, callers) in stats.items() if parent in callers]
    for seconds, key in sorted(edges, key=lambda edge: edge[0], reverse=True):
        share = seconds / total
        if share < 0.01:
            break
        file, line, name = key
        where = f"{_short(file)}:{line}" if line else "built-in"
        indent = "  " * depth
        print(f"    {seconds / calls * 1e6:8.1f} µs  {share:6.1%}  {indent}{name}  ({where})")
        if depth < 6 and share >= 0.05 and not any(code in file for code in _BARE_SEND_CODE):
            _print_callees(stats, key, calls, total, depth + 1)


def _short(file: str) -> str:
    """A path as readers know it: from the package, not from the virtualenv or checkout."""
    return file.rsplit("site-packages/", 1)[-1].removeprefix(f"{REPO_ROOT}/")


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.send_latency", __doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs, each reported")
    parser.add_argument("--n", type=int, default=5_000, help="timed calls per series per run")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls per series first")
    parser.add_argument("--block", type=int, default=100, help="calls per series per turn")
    parser.add_argument("--goal", type=float, default=GOAL, help="highest acceptable p50 ratio")
    parser.add_argument("--profile", action="store_true", help="profile even within the goal")
    parser.add_argument("--no-profile", action="store_true", help="never profile")
    parser.add_argument("--profile-n", type=int, default=2_000, help="calls to profile")
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
