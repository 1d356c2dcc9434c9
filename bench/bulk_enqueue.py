"""How long ``send_bulk`` takes to queue a 100,000-recipient newsletter, and its peak memory.

Each series runs in a fresh child process on the benchmark's Redis and reports its own time and
peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), so one series' memory never counts
against another's:

- ``imports``: the bare process once mailer's bulk API is imported, what any producer pays;
- ``send_bulk``: 100,000 ``new_post`` recipients from a generator, a new address each, the
  type's ``sample.json`` as shared context, under a key;
- ``send_email``: the baseline, 5,000 ``send_email`` calls to new addresses with the same
  context, until their delivery log records are written too, scaled to 100,000.

Goals for the bulk: at most 5 s and a peak RSS of at most 150 MB. No worker runs; the queued
messages are purged at the end.

    python -m bench.bulk_enqueue [--n 100000] [--baseline-n 5000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench.common import (
    NAMESPACE,
    REPO_ROOT,
    BenchRedis,
    add_common_options,
    bench_parser,
    bench_redis,
    configure_process,
    sample_context,
    write_json,
)

TEMPLATE = "new_post"
QUEUE = "mailer_low"  # new_post's level, which send_bulk uses by default too
SERIES = ("imports", "send_bulk", "send_email")
GOAL_S, GOAL_RSS_MB = 5.0, 150.0


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    if args.child:
        _child(args)
        return {}
    with bench_redis(args.redis_url) as server:
        figures = run(server, args)
    write_json(args.json, figures)
    return figures


def run(server: BenchRedis, args: argparse.Namespace) -> dict[str, Any]:
    print(f"bulk_enqueue: {args.n:,} {TEMPLATE} recipients in one send_bulk call, against")
    print(f"  {args.baseline_n:,} send_email calls, each in a fresh process, {server.describe()}")
    results = {
        name: _in_child(server, name, args.baseline_n if name == "send_email" else args.n)
        for name in SERIES
    }
    purged = _purge(server, results["send_bulk"]["bulk_id"], results["send_email"]["ids"])
    print(f"  purged {purged:,} queued messages")
    return _report(results, args)


def _in_child(server: BenchRedis, series: str, n: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.bulk_enqueue", "--child", series, "--n", str(n)]
    done = subprocess.run(
        [*command, "--redis-url", server.url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{series} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return figures


def _child(args: argparse.Namespace) -> None:
    """One series in this process; prints its figures as one JSON line."""
    configure_process(args.redis_url)
    from mailer.api.bulk import send_bulk
    from mailer.api.email import send_email
    from mailer.middleware.log_deliveries import flush_queued

    context = sample_context(TEMPLATE)
    figures: dict[str, Any] = {"n": args.n, "seconds": 0.0, "bulk_id": None, "ids": []}
    began = time.perf_counter()
    if args.child == "send_bulk":
        recipients = (f"reader{i}@example.com" for i in range(args.n))
        result = send_bulk(TEMPLATE, recipients, context, key=f"bench-{uuid.uuid4()}")
        figures.update(bulk_id=result.bulk_id, queued=result.queued)
    elif args.child == "send_email":
        figures["ids"] = [
            send_email(TEMPLATE, f"single{i}@example.com", context) for i in range(args.n)
        ]
        flush_queued(60.0)  # the same work as the bulk: each message's queued record too
    if args.child != "imports":
        figures["seconds"] = time.perf_counter() - began
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def _purge(server: BenchRedis, bulk_id: str, ids: list[str]) -> int:
    """Ours only: the whole queue of a private Redis; of a given one, the messages of the bulk
    and the baseline, the list rewritten without them (LREM per message is quadratic)."""
    if server.owned:
        return server.purge([QUEUE], ids)
    key, single = f"{NAMESPACE}:{QUEUE}", set(ids)
    with server.client() as client:
        mine = {
            redis_id
            for redis_id, payload in client.hscan_iter(f"{key}.msgs", count=1_000)
            if _ours(json.loads(payload), bulk_id, single)
        }
        others = [redis_id for redis_id in client.lrange(key, 0, -1) if redis_id not in mine]
        with client.pipeline() as pipe:
            pipe.delete(key)
            if others:
                pipe.rpush(key, *others)
            for redis_id in mine:
                pipe.hdel(f"{key}.msgs", redis_id)
            pipe.execute()
    return len(mine)


def _ours(message: dict[str, Any], bulk_id: str, single: set[str]) -> bool:
    return message["options"].get("bulk_id") == bulk_id or message["message_id"] in single


def _report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    bare, bulk, single = (results[name] for name in SERIES)
    per_message_us = single["seconds"] / single["n"] * 1e6
    scaled_s = per_message_us * bulk["n"] / 1e6
    bulk_us = bulk["seconds"] / bulk["n"] * 1e6
    time_met = "met" if bulk["seconds"] <= GOAL_S else "MISSED"
    rss_met = "met" if bulk["peak_rss_mb"] <= GOAL_RSS_MB else "MISSED"
    rows = [
        ("imports only", None, None, bare["peak_rss_mb"]),
        (f"send_bulk, {bulk['n']:,} recipients", bulk["seconds"], bulk_us, bulk["peak_rss_mb"]),
        (f"send_email x {single['n']:,}", single["seconds"], per_message_us, single["peak_rss_mb"]),
    ]
    print(f"  {'':34} {'seconds':>9} {'µs/message':>11} {'peak RSS MB':>12}")
    for label, seconds, us, rss in rows:
        timing = "" if seconds is None else f"{seconds:9.2f} {us:11.1f}"
        print(f"  {label:34} {timing:>21} {rss:12.1f}")
    print(
        f"  send_bulk: {bulk['seconds']:.2f} s ({time_met}: ≤ {GOAL_S:g} s), peak RSS"
        f" {bulk['peak_rss_mb']:.0f} MB ({rss_met}: ≤ {GOAL_RSS_MB:g} MB), "
        f"{bulk['peak_rss_mb'] - bare['peak_rss_mb']:.0f} MB over the bare process;"
        f" send_email would take {scaled_s:.1f} s for as many ({scaled_s / bulk['seconds']:.1f}x)"
    )
    return {
        "n": bulk["n"],
        "seconds": bulk["seconds"],
        "peak_rss_mb": bulk["peak_rss_mb"],
        "imports_rss_mb": bare["peak_rss_mb"],
        "send_email_us_per_message": per_message_us,
        "send_email_scaled_s": scaled_s,
        "speedup": scaled_s / bulk["seconds"],
        "goal_s": GOAL_S,
        "goal_rss_mb": GOAL_RSS_MB,
        "baseline_n": single["n"],
    }


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.bulk_enqueue", __doc__)
    parser.add_argument("--n", type=int, default=100_000, help="recipients in the bulk")
    parser.add_argument("--baseline-n", type=int, default=5_000, help="send_email calls")
    parser.add_argument("--child", choices=SERIES, help=argparse.SUPPRESS)
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
