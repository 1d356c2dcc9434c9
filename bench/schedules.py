"""How fast a scheduler tick enqueues due schedule entries, next to plain enqueues of the same.

10,000 ``welcome`` messages (the type's ``sample.json`` context, a new recipient each) are
built once. The baseline enqueues them with ``broker.enqueue`` one by one, as ``send_email``
would. The measured side puts all of them in the schedule, due now, then times
``ScheduleStore.fire_due(broker.enqueue)``: the Lua claims, decoding each entry, the same
enqueues, and the completions. What ``fire_due`` adds beyond the baseline is the schedule's
own cost; it is also measured directly, as ``fire_due``'s time less the time spent inside
``broker.enqueue``, which a busy machine blurs less than the difference of two series. With
``--rounds 2`` the two take turns (baseline, fire_due, fire_due, baseline) and the median of
each is reported. No worker runs; the queue is purged after every series.

    python -m bench.schedules [--n 10000] [--batch 500] [--rounds 2]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bench.common import (
    BenchRedis,
    add_common_options,
    bench_parser,
    run_on_bench_redis,
    sample_context,
)

if TYPE_CHECKING:
    import dramatiq

    from mailer.stores.schedules import ScheduleStore

TEMPLATE = "welcome"
BASELINE, FIRE_DUE = "plain broker.enqueue", "fire_due"


@dataclass(frozen=True)
class Timing:
    """One series' run: its whole time, and the part spent inside ``broker.enqueue``."""

    total_s: float
    enqueue_s: float
    put_s: float = 0.0  # filling the schedule beforehand, not part of the total


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_on_bench_redis(_parser().parse_args(argv), run)


def run(server: BenchRedis, args: argparse.Namespace) -> dict[str, Any]:
    from mailer import settings, stores
    from mailer.actors import broker

    schedules = stores.for_settings(settings.current()).schedules
    _refuse_a_live_schedule(server, schedules)
    messages = _messages(args.n)
    print(f"schedules: fire_due of {args.n:,} due entries (batches of {args.batch}) against")
    print(f"  {args.n:,} plain enqueues of the same messages, on the {server.describe()}")
    series: dict[str, Callable[[], Timing]] = {
        BASELINE: lambda: _time_plain_enqueue(broker.enqueue, messages),
        FIRE_DUE: lambda: _time_fire_due(schedules, broker.enqueue, messages, args.batch),
    }
    timings: dict[str, list[Timing]] = {name: [] for name in series}
    for name in _turns(args.rounds):
        gc.collect()
        timings[name].append(series[name]())
        _check_and_purge(server, messages)
    return _report(timings, args)


def _refuse_a_live_schedule(server: BenchRedis, schedules: ScheduleStore) -> None:
    """A given Redis with schedule entries is in use: ``fire_due`` would send them for real."""
    if not server.owned and schedules.count():
        raise SystemExit(
            f"{server.url} holds {schedules.count():,} schedule entries; "
            "point REDIS_URL at an idle Redis or database, or unset it for a private one."
        )


def _messages(count: int) -> list[dramatiq.Message[Any]]:
    from mailer.actors.emails import lookup
    from mailer.envelope import Email

    actor, context = lookup(TEMPLATE).actor, sample_context(TEMPLATE)
    envelopes = (
        Email(to=[f"user{i}@example.com"], from_email="", tags=[TEMPLATE]).to_json()
        for i in range(count)
    )
    return [actor.message(envelope, context) for envelope in envelopes]


def _turns(rounds: int) -> list[str]:
    """Baseline first in even rounds, second in odd ones, so drift falls on both alike."""
    turns: list[str] = []
    for i in range(rounds):
        turns += [BASELINE, FIRE_DUE] if i % 2 == 0 else [FIRE_DUE, BASELINE]
    return turns


def _time_plain_enqueue(
    enqueue: Callable[[dramatiq.Message[Any]], object], messages: list[dramatiq.Message[Any]]
) -> Timing:
    started = time.perf_counter()
    for message in messages:
        enqueue(message)
    elapsed = time.perf_counter() - started
    return Timing(elapsed, elapsed)


def _time_fire_due(
    schedules: ScheduleStore,
    enqueue: Callable[[dramatiq.Message[Any]], object],
    messages: list[dramatiq.Message[Any]],
    batch: int,
) -> Timing:
    at = datetime.now(timezone.utc)
    started = time.perf_counter()
    for message in messages:
        schedules.put(f"bench:{message.message_id}", at, message)
    put_s = time.perf_counter() - started
    timed = _TimedEnqueue(enqueue)
    started = time.perf_counter()
    fired = schedules.fire_due(timed, batch=batch)
    elapsed = time.perf_counter() - started
    if fired != len(messages) or schedules.count():
        raise RuntimeError(f"fired {fired:,} of {len(messages):,}; {schedules.count():,} left")
    return Timing(elapsed, timed.seconds, put_s)


class _TimedEnqueue:
    """``enqueue`` adding up its own time, to tell the schedule's work from the broker's."""

    def __init__(self, enqueue: Callable[[dramatiq.Message[Any]], object]) -> None:
        self.enqueue = enqueue
        self.seconds = 0.0

    def __call__(self, message: dramatiq.Message[Any]) -> object:
        started = time.perf_counter()
        try:
            return self.enqueue(message)
        finally:
            self.seconds += time.perf_counter() - started


def _check_and_purge(server: BenchRedis, messages: list[dramatiq.Message[Any]]) -> None:
    queue = messages[0].queue_name
    queued = server.queue_length(queue)
    if queued != len(messages):
        raise RuntimeError(f"{queued:,} messages queued on {queue}, expected {len(messages):,}")
    server.purge([queue], {str(message.message_id) for message in messages})


def _report(timings: dict[str, list[Timing]], args: argparse.Namespace) -> dict[str, Any]:
    n = args.n
    seconds = {name: statistics.median(t.total_s for t in runs) for name, runs in timings.items()}
    fire_runs = timings[FIRE_DUE]
    own_us = statistics.median((t.total_s - t.enqueue_s) / n * 1e6 for t in fire_runs)
    put_us = statistics.median(t.put_s / n * 1e6 for t in fire_runs)
    print(f"  {'median of ' + str(args.rounds):22} {'seconds':>8} {'per s':>9} {'µs each':>8}")
    for name, value in seconds.items():
        rounds = ", ".join(f"{t.total_s:.2f}" for t in timings[name])
        print(f"  {name:22} {value:8.3f} {n / value:9,.0f} {value / n * 1e6:8.1f}  ({rounds} s)")
    ratio = seconds[FIRE_DUE] / seconds[BASELINE]
    print(f"  fire_due: {ratio:.2f}x the plain enqueues; beyond its enqueues, the schedule's own")
    print(f"  work (claims, decoding, completions) took {own_us:.1f} µs per entry")
    print(f"  (filling the schedule beforehand: {put_us:.0f} µs per put)")
    return {
        "n": n,
        "batch": args.batch,
        "seconds": seconds,
        "per_s": {name: n / value for name, value in seconds.items()},
        "ratio": ratio,
        "own_us_per_entry": own_us,
        "put_us": put_us,
    }


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.schedules", __doc__)
    parser.add_argument("--n", type=int, default=10_000, help="entries (default: 10,000)")
    parser.add_argument("--batch", type=int, default=500, help="fire_due's batch (default: 500)")
    parser.add_argument("--rounds", type=int, default=2, help="default: 2")
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
