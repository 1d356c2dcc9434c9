"""The global rate limit under a backlog: never above it in any second, and close to it on average.

A backlog of welcome emails is queued before any worker starts; then two stock worker processes
of 8 threads each (``dramatiq mailer.actors --processes 2 --threads 8``) with
``MAILER_RATE_LIMIT=50`` deliver them over SMTP to a sink in a process of its own, which stamps
each arrival. Printed:

- the most emails that arrived within any 1-s window, sliding over every arrival (goal: at most
  the limit);
- the mean rate, as the share of what the limit allows that was used: a limit of N/s lets at
  most N x (span + 1 s) sends through in a span from first to last arrival, since the first
  second's N go at once, so the mean is ``n / (span + 1 s)`` (goal: at least 97 % of N). The
  plain first-to-last rate ``(n - 1) / span`` is printed beside it.

The limited drain runs ``--runs`` times, each printed; the goals must hold in every run. The
baseline is the same backlog on the same workers with no limit, in the same run: what the
workers do unchecked, so the limit is shown to be what holds them back.

    python -m bench.rate_limit [--runs 3] [--n 2000] [--limit 50] [--processes 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import BenchRedis, add_common_options, bench_parser, sample_context
from bench.processes import SMTPSinkProcess, WorkerProcess, run_with_sink

TEMPLATE = "welcome"
WINDOW_S = 1.0
GOAL_SHARE = 0.97


@dataclass(frozen=True)
class Run:
    limit: int | None
    busiest_window: int  # most arrivals within any WINDOW_S
    mean_per_s: float  # n / (span + WINDOW_S): the share of the limit's allowance used
    first_to_last_per_s: float  # (n - 1) / span
    span_s: float
    longest_gap_s: float  # between two arrivals: a straggler shows here, not in the rates


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_with_sink(_parser().parse_args(argv), run)


def run(server: BenchRedis, sink: SMTPSinkProcess, args: argparse.Namespace) -> dict[str, Any]:
    from mailer.actors.emails import lookup

    print(f'rate_limit: a backlog of {args.n:,} "{TEMPLATE}" emails, {args.processes} worker')
    print(f"  processes x {args.threads} threads, plain SMTP to a sink, {server.describe()}")
    sent: set[str] = set()
    baseline = _run_once(sink, None, args, sent)
    limited = [_run_once(sink, args.limit, args, sent) for _ in range(args.runs)]
    server.purge([lookup(TEMPLATE).priority.queue_name], sent)
    return _report(limited, baseline, args)


def _run_once(
    sink: SMTPSinkProcess, limit: int | None, args: argparse.Namespace, sent: set[str]
) -> Run:
    """Queue the backlog, then let fresh workers deliver it all, timed at the sink."""
    from mailer.api.email import send_email

    context = sample_context(TEMPLATE)
    tag = f"limit{limit}" if limit else "nolimit"
    sink.reset()
    for i in range(args.n):
        sent.add(send_email(TEMPLATE, to=f"{tag}-{i}@example.com", context=context))
    os.environ.pop("MAILER_RATE_LIMIT", None)
    if limit:
        os.environ["MAILER_RATE_LIMIT"] = str(limit)  # read by the workers started next
    try:
        _deliver(sink, args, limit)
    finally:
        os.environ.pop("MAILER_RATE_LIMIT", None)
    arrivals = sorted(sink.arrival_times())
    span_s = arrivals[-1] - arrivals[0]
    result = Run(
        limit,
        busiest_window(arrivals, WINDOW_S),
        len(arrivals) / (span_s + WINDOW_S),
        (len(arrivals) - 1) / span_s,
        span_s,
        max(later - earlier for earlier, later in itertools.pairwise(arrivals)),
    )
    print(
        f"  {_mode(limit):>14}: busiest 1-s window {result.busiest_window:>5,} emails,"
        f" mean {result.mean_per_s:6.1f}/s (first to last {result.first_to_last_per_s:6.1f}/s,"
        f" {span_s:.1f} s, longest gap {result.longest_gap_s:.2f} s)"
    )
    return result


def _deliver(sink: SMTPSinkProcess, args: argparse.Namespace, limit: int | None) -> None:
    timeout_s = 120.0 + (args.n / limit if limit else 0.0)
    with WorkerProcess(processes=args.processes, threads=args.threads) as worker:
        worker.wait_ready()
        if not sink.wait_for_count(args.n, timeout_s=timeout_s):
            log = "".join(worker.output)
            raise RuntimeError(f"{sink.count:,} of {args.n:,} emails arrived; worker log:\n{log}")
    if sink.count != args.n:
        raise RuntimeError(f"{sink.count:,} emails arrived for {args.n:,} sent: some went twice")


def busiest_window(ordered: Sequence[float], window_s: float) -> int:
    """The most arrivals within any ``window_s``, over windows ending at each arrival."""
    busiest, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window_s:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


def _mode(limit: int | None) -> str:
    return f"limit {limit}/s" if limit else "no limit"


def _report(limited: list[Run], baseline: Run, args: argparse.Namespace) -> dict[str, Any]:
    shares = [run.mean_per_s / args.limit for run in limited]
    busiest = max(run.busiest_window for run in limited)
    capped = busiest <= args.limit
    enough = min(shares) >= GOAL_SHARE
    shown = ", ".join(f"{share:.1%}" for share in shares)
    print(
        f"  limit {args.limit}/s over {len(limited)} runs: at most {busiest} in any second"
        f" ({'met' if capped else 'MISSED'}: ≤ {args.limit}), mean {shown} of the limit"
        f" ({'met' if enough else 'MISSED'}: ≥ {GOAL_SHARE:.0%} in every run); unlimited, the"
        f" same workers send {baseline.first_to_last_per_s:.1f}/s"
    )
    return {
        "limit": args.limit,
        "busiest_window": busiest,
        "shares": shares,
        "share": min(shares),
        "mean_per_s": min(run.mean_per_s for run in limited),
        "goal_share": GOAL_SHARE,
        "baseline_per_s": baseline.first_to_last_per_s,
        "runs": [run.__dict__ for run in (baseline, *limited)],
        "n": args.n,
        "processes": args.processes,
        "threads": args.threads,
    }


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.rate_limit", __doc__)
    parser.add_argument("--runs", type=int, default=3, help="limited runs, each reported")
    parser.add_argument("--n", type=int, default=2_000, help="emails in the backlog")
    parser.add_argument("--limit", type=int, default=50, help="MAILER_RATE_LIMIT, sends per s")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
