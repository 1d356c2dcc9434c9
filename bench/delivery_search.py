"""How fast the delivery log answers a page of a search, over a million records.

The log is filled through its own write path (``DeliveryLog``'s ``set_status`` script and the
commands beside it, pipelined 1,000 records a round trip): records created over the last
week, 200,000 recipients over 20 domains, four types, mostly ``sent`` with some ``dead``,
``retrying``, ``suppressed`` and ``queued``, each with its type's sample context. Then each
kind of search is timed for its first page (which builds a kept result, where it needs one)
and for page 100 (which reads it): the median and worst of ``--repeat`` runs, each the whole
``search_page`` call a dashboard page or ``mailer log`` makes, records included. The goal is
≤ 100 ms a page. Last, what the indexes cost: their Redis memory (``MEMORY USAGE`` of every
index key, summed) per 1,000 records, beside the records' own.

    python -m bench.delivery_search [--n 1000000] [--repeat 7] [--page-rows 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.common import (
    BenchRedis,
    add_common_options,
    bench_parser,
    run_on_bench_redis,
    sample_context,
)

if TYPE_CHECKING:
    from mailer.stores.delivery_log import DeliveryLog
    from mailer.stores.delivery_search import Criteria

GOAL_MS = 100.0
USERS, DOMAINS = 200_000, 20
TYPES = {"new_post": 0.7, "welcome": 0.1, "password_reset": 0.1, "appointment_reminder": 0.1}
STATUSES = {"sent": 0.93, "dead": 0.02, "retrying": 0.01, "suppressed": 0.02, "queued": 0.02}
WEEK_S = 7 * 24 * 3600
BATCH = 1_000


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_on_bench_redis(_parser().parse_args(argv), run)


def run(server: BenchRedis, args: argparse.Namespace) -> dict[str, Any]:
    from mailer import settings, stores

    log = stores.for_settings(settings.current()).delivery_log
    if not server.owned and log.client.exists(log.index_key("all")):
        raise SystemExit(f"{server.url} holds a delivery log; use an idle Redis")
    now = time.time()
    print(f"delivery_search: {args.n:,} records on the {server.describe()}")
    before = int(log.client.info("memory")["used_memory"])
    fill_s = _fill(log, args.n, now)
    used = int(log.client.info("memory")["used_memory"]) - before
    print(f"  filled in {fill_s:.0f} s ({args.n / fill_s:,.0f} records/s)")
    timings = {name: _time(log, criteria, args) for name, criteria in _searches(now).items()}
    index_bytes = _index_bytes(log)
    figures = {
        "n": args.n,
        "pages_ms": timings,
        "index_bytes_per_1000": index_bytes * 1000 / args.n,
        "total_bytes_per_1000": used * 1000 / args.n,
    }
    _report(figures)
    return figures


def _fill(log: DeliveryLog, n: int, now: float) -> float:
    """``n`` records through the log's own writes, ``BATCH`` to a round trip."""
    import dramatiq

    from mailer.stores.delivery_search import Attempt
    from mailer.stores.scripts import Batch

    rng = random.Random(14)
    contexts = {name: sample_context(name) for name in TYPES}
    types, statuses = list(TYPES), list(STATUSES)
    started = time.perf_counter()
    for first in range(0, n, BATCH):
        batch = Batch(log.client)
        picked = zip(
            rng.choices(types, list(TYPES.values()), k=min(BATCH, n - first)),
            rng.choices(statuses, list(STATUSES.values()), k=BATCH),
            strict=False,
        )
        for template, status in picked:
            user = rng.randrange(USERS)
            to = f"user{user}@domain{user % DOMAINS}.example"
            created_ms = int((now - rng.random() * WEEK_S) * 1000)
            message = dramatiq.Message(
                queue_name="mailer_low",
                actor_name=f"send_{template}",
                args=({"to": [to], "from_email": "shop@example.com"}, contexts[template]),
                kwargs={},
                options={},
                message_timestamp=created_ms,
            )
            created, fields, indexes = log._describe(message)
            attempt = Attempt(created + 1, "sent" if status == "sent" else "failed", "smtp")
            log._add_event(
                batch, message.message_id, status, created, fields, indexes, attempt=attempt
            )
        batch.execute()
        if first and first % 100_000 == 0:
            print(f"  {first:,} records", flush=True)
    return time.perf_counter() - started


def _searches(now: float) -> dict[str, Criteria]:
    from mailer.stores.delivery_search import Criteria

    return {
        "everything": Criteria(),
        "status dead": Criteria(status="dead"),
        "type new_post": Criteria(template="new_post"),
        "type + status": Criteria(template="welcome", status="sent"),
        "domain": Criteria(domain="domain7.example"),
        "domain + status": Criteria(domain="domain7.example", status="dead"),
        "last hour": Criteria(since=now - 3600),
        "one day, 3 days ago": Criteria(since=now - 4 * 86400, until=now - 3 * 86400),
        "address exact": Criteria(address_prefix="user12345@domain5.example"),
        "prefix user1234": Criteria(address_prefix="user1234"),
        "prefix user12": Criteria(address_prefix="user12"),
        "prefix + status": Criteria(address_prefix="user12", status="dead"),
        "type + domain": Criteria(template="password_reset", domain="domain3.example"),
        "type + domain + day": Criteria(
            template="password_reset", domain="domain3.example", since=now - 86400
        ),
    }


def _time(log: DeliveryLog, criteria: Criteria, args: argparse.Namespace) -> dict[str, Any]:
    """First page (fresh) and page 100 (reading what the first built): ms per call."""
    found: dict[str, Any] = {}
    for label, offset in (("first", 0), ("page 100", 99 * args.page_rows)):
        samples = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            page = log.search_page(criteria, offset=offset, limit=args.page_rows)
            samples.append((time.perf_counter() - started) * 1000)
        found[label] = {"median": statistics.median(samples), "max": max(samples)}
        found["total"] = page.total
        found["rows " + label] = len(page.deliveries)
    return found


def _index_bytes(log: DeliveryLog) -> int:
    """Every index key's ``MEMORY USAGE`` (all its elements counted), summed. A bench may scan
    the keyspace; a search never does."""
    total, keys = 0, list(log.client.scan_iter(log.index_prefix + ":*", count=10_000))
    for first in range(0, len(keys), 1_000):
        with log.client.pipeline(transaction=False) as pipe:
            for key in keys[first : first + 1_000]:
                pipe.memory_usage(key, samples=0)
            total += sum(size or 0 for size in pipe.execute())
    return total


def _report(figures: dict[str, Any]) -> None:
    print(f"  {'search':22} {'matches':>9} {'first page ms':>18} {'page 100 ms':>18}")
    worst = 0.0
    for name, timing in figures["pages_ms"].items():
        first, deep = timing["first"], timing["page 100"]
        worst = max(worst, first["max"], deep["max"])
        print(
            f"  {name:22} {timing['total']:>9,} "
            f"{first['median']:>8.1f} (max {first['max']:>5.1f}) "
            f"{deep['median']:>8.1f} (max {deep['max']:>5.1f})"
        )
    verdict = "meets" if worst <= GOAL_MS else "misses"
    print(f"  slowest page {worst:.1f} ms: {verdict} the goal of ≤ {GOAL_MS:.0f} ms a page")
    print(
        f"  Redis memory per 1,000 records: indexes {figures['index_bytes_per_1000'] / 1024:,.0f}"
        f" KiB; everything (records, attempts, indexes, counters)"
        f" {figures['total_bytes_per_1000'] / 1024:,.0f} KiB"
    )


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.delivery_search", __doc__)
    parser.add_argument("--n", type=int, default=1_000_000, help="records to fill")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each page timed")
    parser.add_argument("--page-rows", type=int, default=50, help="rows a page")
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
