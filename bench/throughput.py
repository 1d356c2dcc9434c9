"""Worker throughput in emails/s: SMTP connection reuse (the product default) against a new
connection per message.

One ``dramatiq mailer.actors`` process with 8 threads renders every email for real (Jinja, CSS
inlining, text, MIME) and sends it over plain SMTP to a sink running in a process of its own.
The baseline loads ``bench.one_connection_per_message`` into the same worker, which closes the
thread's backend after each message, so connection reuse is the only difference.

N emails are queued with ``send_email`` before the worker starts; the rate runs from the first
to the last arrival at the sink, so neither the worker's start nor the enqueueing counts. With
several rounds the modes take turns, their order alternating, against a busy machine's drift.

    python -m bench.throughput [--n 2000] [--rounds 2] [--threads 8] [--template welcome]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import (
    BenchRedis,
    add_common_options,
    bench_parser,
    sample_context,
)
from bench.processes import SMTPSinkProcess, WorkerProcess, run_with_sink

MODES: dict[str, tuple[str, ...]] = {
    "connection reuse": (),
    "connection per message": ("bench.one_connection_per_message",),
}


@dataclass(frozen=True)
class Run:
    mode: str
    emails_per_s: float
    seconds: float  # first to last arrival at the sink
    connections: int  # SMTP connections the sink accepted


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_with_sink(_parser().parse_args(argv), run)


def run(server: BenchRedis, sink: SMTPSinkProcess, args: argparse.Namespace) -> dict[str, Any]:
    print(f'throughput: {args.n:,} "{args.template}" emails per run, one worker process x')
    print(f"  {args.threads} threads, plain SMTP to a sink in its own process, {server.describe()}")
    print(f"  {'run':>3}  {'mode':24} {'emails/s':>9} {'seconds':>8} {'SMTP connections':>17}")
    return _report(compare(server, sink, MODES, args), args)


def compare(
    server: BenchRedis,
    sink: SMTPSinkProcess,
    modes: dict[str, tuple[str, ...]],
    args: argparse.Namespace,
) -> list[Run]:
    """Each mode ``args.rounds`` times, their order alternating against a busy machine's
    drift; each run printed as it ends. ``modes`` maps a name to the modules its worker loads."""
    from mailer.actors.emails import lookup

    sent: set[str] = set()
    runs: list[Run] = []
    for round_no in range(args.rounds):
        order = list(modes) if round_no % 2 == 0 else list(reversed(modes))
        for mode in order:
            result = run_once(sink, mode, modes[mode], f"r{round_no}", args, sent)
            runs.append(result)
            print(
                f"  {round_no + 1:>3}  {mode:24} {result.emails_per_s:9.1f} "
                f"{result.seconds:8.2f} {result.connections:17,}"
            )
    server.purge([lookup(args.template).priority.queue_name], sent)
    return runs


def run_once(
    sink: SMTPSinkProcess,
    mode: str,
    modules: tuple[str, ...],
    tag: str,
    args: argparse.Namespace,
    sent: set[str],
) -> Run:
    """Queue N emails, then let a fresh worker (loading ``modules`` beside mailer's actors)
    deliver them all, and time it at the sink."""
    from mailer.api.email import send_email

    context = sample_context(args.template)
    slug = mode.replace(" ", "-")
    sink.reset()
    for i in range(args.n):
        sent.add(send_email(args.template, to=f"{slug}-{tag}-{i}@example.com", context=context))
    with WorkerProcess(modules, processes=1, threads=args.threads) as worker:
        worker.wait_ready()
        if not sink.wait_for_count(args.n, timeout_s=max(120.0, args.n / 10)):
            log = "".join(worker.output)
            raise RuntimeError(f"{sink.count:,} of {args.n:,} emails arrived; worker log:\n{log}")
    arrivals = sorted(sink.arrival_times())
    seconds = arrivals[-1] - arrivals[0]
    return Run(mode, (args.n - 1) / seconds, seconds, sink.connections)


def _report(runs: list[Run], args: argparse.Namespace) -> dict[str, Any]:
    rates = {
        mode: statistics.median(run.emails_per_s for run in runs if run.mode == mode)
        for mode in MODES
    }
    reuse, per_message = rates["connection reuse"], rates["connection per message"]
    median = "median of " if args.rounds > 1 else ""
    print(
        f"  connection reuse {reuse:.1f} emails/s, connection per message {per_message:.1f}"
        f" emails/s ({median}{args.rounds} run(s) each): reuse is {reuse / per_message:.2f}x"
    )
    return {
        "emails_per_s": rates,
        "ratio": reuse / per_message,
        "runs": [run.__dict__ for run in runs],
        "n": args.n,
        "threads": args.threads,
        "template": args.template,
    }


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.throughput", __doc__)
    add_run_options(parser)
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a worker-throughput comparison."""
    parser.add_argument("--n", type=int, default=2_000, help="emails per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per mode, order alternating")
    parser.add_argument("--threads", type=int, default=8, help="worker threads")
    parser.add_argument("--template", default="welcome", help="email type, with its sample.json")
    add_common_options(parser)


if __name__ == "__main__":
    main()
