"""What the delivery log costs a worker: emails/s with it (the product default) and without it.

The same worker as ``bench.throughput`` (one ``dramatiq mailer.actors`` process, 8 threads,
real rendering and SMTP to a sink in its own process, connections reused); the baseline loads
``bench.without_delivery_log``, which takes the log's middleware off the broker, so the log's
writes (``sending`` when a message starts, the attempt and its outcome when it is acked, the
hourly totals and the metrics counters) are the only difference. Modes take turns, their order
alternating, against a busy machine's drift.

    python -m bench.delivery_log [--n 2000] [--rounds 2] [--threads 8] [--template welcome]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

from bench.common import BenchRedis, bench_parser
from bench.processes import SMTPSinkProcess, run_with_sink
from bench.throughput import add_run_options, compare

MODES: dict[str, tuple[str, ...]] = {
    "with the delivery log": (),
    "without it": ("bench.without_delivery_log",),
}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_with_sink(_parser().parse_args(argv), run)


def run(server: BenchRedis, sink: SMTPSinkProcess, args: argparse.Namespace) -> dict[str, Any]:
    print(f'delivery_log: {args.n:,} "{args.template}" emails per run, one worker process x')
    print(f"  {args.threads} threads, plain SMTP to a sink in its own process, {server.describe()}")
    print(f"  {'run':>3}  {'mode':24} {'emails/s':>9} {'seconds':>8} {'SMTP connections':>17}")
    runs = compare(server, sink, MODES, args)
    rates = {
        mode: statistics.median(run.emails_per_s for run in runs if run.mode == mode)
        for mode in MODES
    }
    logged, bare = rates["with the delivery log"], rates["without it"]
    print(
        f"  with the delivery log {logged:.1f} emails/s, without it {bare:.1f} emails/s:"
        f" the log costs {1 - logged / bare:.1%} of the throughput"
    )
    return {"emails_per_s": rates, "cost": 1 - logged / bare, "n": args.n, "threads": args.threads}


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.delivery_log", __doc__)
    add_run_options(parser)
    return parser


if __name__ == "__main__":
    main()
