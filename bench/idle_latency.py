"""How soon an idle worker delivers an email it is given, and what it costs Redis to wait.

One stock worker process (``dramatiq mailer.actors --processes 1``, 8 threads) sits idle; then
``--n`` ``password_reset`` emails are sent one at a time, spaced out at random
(``--spacing``, so no send catches the worker still busy with the one before, nor in step
with a poll), each on the next priority level in turn (``priority=`` overrides the type's
own). Each latency runs from ``send_email`` returning to the message's arrival at the SMTP
sink (``bench.processes``: aiosmtpd in a process of its own, stamping ``time.time()`` when
the DATA ends). Printed: p50/p90/p99/max, overall and per level.

Then ``--probes`` no-op messages (``bench.pickup_probe``), also spaced out and on each level in
turn, time the pickup alone: from the enqueue returning to a worker thread starting the actor
(the wake-up, the fetch, the hand-over to a thread), the part of the latency that does not
depend on rendering and SMTP.

Then the worker is left idle for ``--idle-s`` seconds, and the Redis commands run in that
time are counted from ``INFO commandstats`` (nothing else is connected): per second, and by
command.

The baseline, in the same run, on the same Redis and sink: the consumer mailer had before
(``bench.polling_consumer``: Dramatiq's own, its back-off capped at 250 ms), on
``--baseline-n`` sends. Goals: p50 ≤ 5 ms, p99 ≤ 25 ms, no more idle commands than before.

    python -m bench.idle_latency [--n 200] [--baseline-n 100] [--spacing 0.05 0.25] [--idle-s 10]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import BenchRedis, add_common_options, bench_parser, percentile, sample_context
from bench.processes import SMTPSinkProcess, WorkerProcess, run_with_sink
from mailer.priorities import LEVELS

TEMPLATE = "password_reset"
GOAL_P50_MS, GOAL_P99_MS = 5.0, 25.0
PROBE = "bench.pickup_probe"
MODES = {"wake on arrival": (PROBE,), "poll (before)": ("bench.polling_consumer", PROBE)}


@dataclass(frozen=True)
class Mode:
    name: str
    latencies_ms: dict[str, list[float]]  # by priority level
    pickups_ms: list[float]  # enqueue -> a worker thread starting a no-op actor
    idle_commands_per_s: float
    idle_commands: dict[str, int]  # by command, over the idle window

    def all_ms(self) -> list[float]:
        return sorted(ms for level in self.latencies_ms.values() for ms in level)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_with_sink(_parser().parse_args(argv), run)


def run(server: BenchRedis, sink: SMTPSinkProcess, args: argparse.Namespace) -> dict[str, Any]:
    print(f'idle_latency: "{TEMPLATE}" to an idle worker (1 process x 8 threads), one at a time')
    print(f"  spaced {args.spacing[0]}-{args.spacing[1]} s apart, {server.describe()};")
    print("  latency: send_email returning -> arrival at the aiosmtpd sink (its own process)")
    modes = [
        _run_mode(server, sink, name, modules, n, args)
        for (name, modules), n in zip(MODES.items(), (args.n, args.baseline_n), strict=True)
    ]
    return _report(modes)


def _run_mode(
    server: BenchRedis,
    sink: SMTPSinkProcess,
    name: str,
    modules: tuple[str, ...],
    n: int,
    args: argparse.Namespace,
) -> Mode:
    from mailer.api.email import send_email
    from mailer.middleware.log_deliveries import flush_queued

    context = sample_context(TEMPLATE)
    levels = list(LEVELS)
    latencies: dict[str, list[float]] = {level: [] for level in levels}
    slug = name.split()[0]
    with WorkerProcess(modules, processes=1) as worker:
        worker.wait_ready()
        time.sleep(1.0)  # past any start-up fetches: idle
        for i in range(n):
            time.sleep(random.uniform(*args.spacing))
            level, recipient = levels[i % len(levels)], f"{slug}-{i}@example.com"
            send_email(TEMPLATE, to=recipient, context=context, priority=level)
            returned = time.time()
            arrived = sink.arrival_of(recipient, timeout_s=10.0)
            if arrived is None:
                raise RuntimeError(f"{recipient} never arrived:\n" + "".join(worker.output))
            latencies[level].append((arrived - returned) * 1000)
        pickups = [_probe(server, levels[i % len(levels)], args) for i in range(args.probes)]
        flush_queued()
        time.sleep(2.0)  # the last send's after-work done: idle again
        per_s, by_command = _idle_commands(server, args.idle_s)
    return Mode(name, latencies, pickups, per_s, by_command)


def _probe(server: BenchRedis, level: str, args: argparse.Namespace) -> float:
    """One no-op message on ``level``'s queue: ms from its enqueue to its actor starting."""
    from bench.pickup_probe import PROBES_KEY, pickup_probe

    time.sleep(random.uniform(*args.spacing))
    queue_name = LEVELS[level].queue_name
    message = pickup_probe.message_with_options(args=("probe",)).copy(queue_name=queue_name)
    with server.client() as client:
        client.delete(PROBES_KEY)
        pickup_probe.broker.enqueue(message)
        returned = time.time()
        reply = client.blpop([PROBES_KEY], timeout=10)
    if reply is None:
        raise RuntimeError(f"the pickup probe on {queue_name} never ran")
    return (float(reply[1].split()[1]) - returned) * 1000


def _idle_commands(server: BenchRedis, seconds: float) -> tuple[float, dict[str, int]]:
    """Commands Redis ran in ``seconds`` of quiet, by command (our own INFO calls left out)."""
    with server.client() as client:
        before = client.info("commandstats")
        started = time.monotonic()
        time.sleep(seconds)
        after = client.info("commandstats")
        elapsed = time.monotonic() - started
    counts = {
        name.removeprefix("cmdstat_"): stats["calls"] - before.get(name, {}).get("calls", 0)
        for name, stats in after.items()
    }
    counts["info"] = counts.get("info", 0) - 1
    counts = {name: count for name, count in counts.items() if count > 0}
    return sum(counts.values()) / elapsed, counts


def _report(modes: list[Mode]) -> dict[str, Any]:
    print(f"  {'':18} {'n':>4} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for mode in modes:
        _print_row(mode.name, mode.all_ms())
        for level, samples in mode.latencies_ms.items():
            _print_row(f"  {level}", sorted(samples))
    for mode in modes:
        _print_row(f"pickup, {mode.name.split()[0]}", sorted(mode.pickups_ms))
    for mode in modes:
        commands = ", ".join(f"{k} {v}" for k, v in sorted(mode.idle_commands.items()))
        print(f"  idle, {mode.name}: {mode.idle_commands_per_s:.1f} Redis commands/s ({commands})")
    after, before = modes
    ordered = after.all_ms()
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    quieter = after.idle_commands_per_s <= before.idle_commands_per_s
    print(
        f"  p50 {p50:.1f} ms ({_verdict(p50 <= GOAL_P50_MS)}: ≤ {GOAL_P50_MS:.0f}), "
        f"p99 {p99:.1f} ms ({_verdict(p99 <= GOAL_P99_MS)}: ≤ {GOAL_P99_MS:.0f}), "
        f"idle traffic {_verdict(quieter)}: no more than before"
    )
    return {
        "modes": {
            mode.name: {
                "latency_ms": _figures(mode.all_ms()),
                "by_level_ms": {k: _figures(sorted(v)) for k, v in mode.latencies_ms.items()},
                "pickup_ms": _figures(sorted(mode.pickups_ms)),
                "idle_commands_per_s": mode.idle_commands_per_s,
                "idle_commands": mode.idle_commands,
            }
            for mode in modes
        },
        "p50_ms": p50,
        "p99_ms": p99,
        "goal_p50_ms": GOAL_P50_MS,
        "goal_p99_ms": GOAL_P99_MS,
    }


def _figures(ordered: list[float]) -> dict[str, float]:
    return {
        "n": len(ordered),
        **{f"p{q}": percentile(ordered, q) for q in (50, 90, 99)},
        "max": ordered[-1],
    }


def _print_row(name: str, ordered: list[float]) -> None:
    f = _figures(ordered)
    print(
        f"  {name:18} {len(ordered):>4} {f['p50']:7.1f} {f['p90']:7.1f} {f['p99']:7.1f}"
        f" {f['max']:7.1f}"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.idle_latency", __doc__)
    parser.add_argument("--n", type=int, default=200, help="sends to the waking worker")
    parser.add_argument("--baseline-n", type=int, default=100, help="sends to the polling one")
    parser.add_argument(
        "--spacing", type=float, nargs=2, default=(0.05, 0.25), help="seconds between sends"
    )
    parser.add_argument("--probes", type=int, default=100, help="no-op pickup probes per mode")
    parser.add_argument("--idle-s", type=float, default=10.0, help="idle window for counting")
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
