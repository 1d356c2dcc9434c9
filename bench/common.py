"""What the benchmarks share: a Redis they may use, settings, percentiles.

Each benchmark measures its baseline in the same run, on the same Redis and machine, so a busy
machine slows both sides alike and the ratio stays meaningful even when the absolute figures
do not.

A benchmark starts a private Redis unless ``REDIS_URL`` (or ``--redis-url``) names one. It never
flushes a Redis it did not start: it refuses one that mailer is using (a worker there would send
the benchmark's emails for real) and afterwards removes only the messages it enqueued.

The worker and SMTP sink processes live in ``bench.processes``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from mailer.embedded_redis import running_redis
from mailer.priorities import LEVELS

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
NAMESPACE = "dramatiq"  # RedisBroker's default key prefix, which mailer's broker keeps
SENDER = "Mailer Bench <bench@example.com>"
MAILER_QUEUES = tuple(level.queue_name for level in LEVELS.values())
_HEARTBEATS = f"{NAMESPACE}:__heartbeats__"  # every producer and worker stamps it on each call
_BUSY_WINDOW_MS = 10_000  # an idle worker polls at least every second: seen in 10 s means live


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Latency samples reduced to what the tables print, all in the samples' unit."""

    n: int
    mean: float
    p50: float
    p99: float


def summarise(samples: Sequence[float]) -> Summary:
    ordered = sorted(samples)
    return Summary(
        len(ordered), sum(ordered) / len(ordered), percentile(ordered, 50), percentile(ordered, 99)
    )


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted samples: always a value that was observed."""
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def bench_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, its module docstring as the help, as ``python -m`` runs it."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL"),
        help="an idle Redis to use (default: $REDIS_URL, else a private one started here)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")


def write_json(path: Path | None, figures: Mapping[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, default=_plain) + "\n", encoding="utf-8")


def _plain(value: object) -> object:
    return asdict(value) if isinstance(value, Summary) else str(value)


# --- Redis -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchRedis:
    url: str
    owned: bool

    def describe(self) -> str:
        return f"{'private' if self.owned else 'given'} Redis at {self.url}"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def queue_length(self, queue: str) -> int:
        """Messages waiting in Redis, not counting those a worker has already fetched."""
        with self.client() as client:
            return int(client.llen(f"{NAMESPACE}:{queue}"))

    def check_idle(self) -> None:
        """Refuse a Redis that mailer is using: its worker would send our emails for real."""
        with self.client() as client:
            busy = [q for q in MAILER_QUEUES if client.exists(f"{NAMESPACE}:{q}.msgs")]
            since_ms = time.time() * 1000 - _BUSY_WINDOW_MS
            seen = client.zcount(_HEARTBEATS, since_ms, "+inf")
        if busy or seen:
            raise SystemExit(
                f"{self.url} is in use by mailer (queued: {', '.join(busy) or 'none'}; "
                f"{seen} producer(s) or worker(s) active in the last {_BUSY_WINDOW_MS // 1000} s). "
                "Point REDIS_URL at an idle Redis or database, or unset it for a private one."
            )

    def purge(self, queues: Iterable[str], message_ids: Collection[str]) -> int:
        """Drop what the benchmark left queued and return how many messages that was.

        Our own Redis loses whole queues; a given one loses only the listed messages.
        """
        with self.client() as client:
            if self.owned:
                keys = [f"{NAMESPACE}:{q}{s}" for q in queues for s in ("", ".DQ")]
                removed = sum(int(client.hlen(f"{key}.msgs")) for key in keys)
                client.delete(*keys, *(f"{key}.msgs" for key in keys))
                return removed
            return sum(_remove_messages(client, queue, message_ids) for queue in queues)


def _remove_messages(client: redis.Redis, queue: str, message_ids: Collection[str]) -> int:
    """Remove the listed messages from ``queue``: Redis keys them by an id of their own."""
    key = f"{NAMESPACE}:{queue}"
    mine = [
        redis_id
        for redis_id, payload in client.hscan_iter(f"{key}.msgs")
        if json.loads(payload).get("message_id") in message_ids
    ]
    with client.pipeline(transaction=False) as pipe:
        for redis_id in mine:
            pipe.lrem(key, 0, redis_id)
            pipe.hdel(f"{key}.msgs", redis_id)
        pipe.execute()
    return len(mine)


@contextmanager
def bench_redis(url: str | None) -> Iterator[BenchRedis]:
    """The given Redis once checked idle, else a private one stopped on exit."""
    if url:
        given = BenchRedis(url, owned=False)
        given.check_idle()
        with given.client() as client:
            before = set(client.zrange(_HEARTBEATS, 0, -1))
        try:
            yield given
        finally:
            with given.client() as client:  # so that the next benchmark finds the Redis idle
                ours = set(client.zrange(_HEARTBEATS, 0, -1)) - before
                if ours:
                    client.zrem(_HEARTBEATS, *ours)
        return
    with running_redis() as server:
        yield BenchRedis(server.url, owned=True)


# --- mailer's settings -------------------------------------------------------------------------


def run_on_bench_redis(
    args: argparse.Namespace, run: Callable[[BenchRedis, argparse.Namespace], dict[str, Any]]
) -> dict[str, Any]:
    """A benchmark on its own Redis (or ``--redis-url``'s), the process's settings pointing at
    it; its figures also written to ``--json``."""
    with bench_redis(args.redis_url) as server:
        configure_process(server.url)
        figures = run(server, args)
    write_json(args.json, figures)
    return figures


def configure_process(redis_url: str, smtp_port: int | None = None) -> None:
    """Point this process, and the workers it starts, at the benchmark's Redis and sink.

    mailer reads its settings once, when its broker is first imported, so this must run first.
    The bundled templates only: an application's own would change what is measured.
    """
    if "mailer.broker" in sys.modules:
        raise RuntimeError("configure_process() must run before mailer's broker is imported")
    os.environ.update(REDIS_URL=redis_url, MAILER_FROM=SENDER)
    os.environ.pop("MAILER_TEMPLATES_DIR", None)
    # News carries its unsubscribe link, as in production: workers refuse to start without.
    os.environ.setdefault("MAILER_PUBLIC_URL", "https://bench.example")
    os.environ.setdefault("MAILER_SECRET_KEY", "bench-secret-" + "k" * 32)
    if smtp_port is None:
        os.environ["MAILER_BACKEND"] = "console"  # never used: no worker runs in this process
    else:
        os.environ.update(
            MAILER_BACKEND="smtp", SMTP_HOST=HOST, SMTP_PORT=str(smtp_port), SMTP_SECURITY="none"
        )


def sample_context(template: str) -> dict[str, Any]:
    """The type's own ``sample.json``: realistic sizes for rendering and for the queue."""
    from mailer import settings
    from mailer.templates import for_settings

    return for_settings(settings.current()).sample_context(template)


# --- processes ---------------------------------------------------------------------------------
