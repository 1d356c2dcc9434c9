"""How long a notification takes from ``mailer.api.inbox.notify`` to a browser's stream, next to a
bare Redis ``XADD`` → ``XREAD BLOCK`` round trip.

The stream endpoint runs as deployed: ``mailer dashboard``, the Procfile's web process, in a
process of its own (waitress 3 sends each write at once). A plain HTTP client
(``http.client`` in a thread, no SSE library) holds one stream open and stamps each ``id:``
line as it is read.
Each notification is published only once the previous one has arrived, so every sample is one
notification's own latency, never a queue behind another: from just before ``notify`` (its
checks and its one Lua call included) to the frame read off the socket.

The baseline is the floor under it, measured the same way in the same run: a thread blocked
on ``XREAD`` over its own connection, stamping each entry as it arrives, while the main thread
``XADD``s. The two series take turns in blocks, so a busy machine's drift falls on both alike.
Goal: every notification on the stream well within a second.

    python -m bench.notification_latency [--n 200] [--warmup 20] [--block 20]
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis

from bench.common import (
    HOST,
    BenchRedis,
    add_common_options,
    bench_parser,
    bench_redis,
    configure_process,
    percentile,
    write_json,
)
from bench.processes import DashboardProcess

GOAL_MS = 1_000.0
BASELINE, STREAM = "baseline", "stream"
LABELS = {BASELINE: "bare XADD → XREAD", STREAM: "notify → SSE frame"}
USER = f"bench-latency-{secrets.token_hex(4)}"
_ARRIVAL_TIMEOUT_S = 10.0

# A publish: returns the id it made and the perf_counter() just before it started.
Publish = Callable[[int], tuple[str, float]]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    with bench_redis(args.redis_url) as server:
        configure_process(server.url)
        os.environ["MAILER_SECRET_KEY"] = secrets.token_urlsafe(32)  # read by the stream server
        figures = run(server, args)
    write_json(args.json, figures)
    return figures


def run(server: BenchRedis, args: argparse.Namespace) -> dict[str, Any]:
    print(f"notification_latency: {args.n} notifications, each published once the last one")
    print("  arrived, to one stream served by waitress in a process of its own and read")
    print(f"  by a plain HTTP client, in blocks of {args.block}, on the {server.describe()}")
    with DashboardProcess() as stream_server, server.client() as client:
        try:
            publishers = {
                BASELINE: _bare_round_trip(server.url, client),
                STREAM: _notify_to_stream(stream_server.port),
            }
            samples = _measure({n: next(p) for n, p in publishers.items()}, args)
        finally:
            for publisher in publishers.values():
                publisher.close()
            client.delete(f"bench:latency:{USER}", *client.keys(f"mailer:notification*:{USER}"))
    return _report(samples, args)


# --- the two publishers, each a generator: set up, yield the publish function, clean up -----------


def _bare_round_trip(redis_url: str, client: redis.Redis) -> Iterator[Publish]:
    """The floor: ``XADD`` on one connection, ``XREAD BLOCK`` on another, nothing else."""
    key = f"bench:latency:{USER}"
    arrivals: queue.Queue[tuple[str, float]] = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        with redis.Redis.from_url(redis_url) as reader:
            last_id = "$"
            while not stop.is_set():
                for _, entries in reader.xread({key: last_id}, block=200):
                    for entry_id, _ in entries:
                        arrivals.put((entry_id.decode(), time.perf_counter()))
                        last_id = entry_id

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(0.3)  # the reader is blocked on XREAD before the first XADD

    def publish(number: int) -> tuple[str, float]:
        started = time.perf_counter()
        return client.xadd(key, {"title": f"n{number}"}).decode(), started

    try:
        yield _timed(publish, arrivals)
    finally:
        stop.set()
        thread.join()


def _notify_to_stream(port: int) -> Iterator[Publish]:
    """``inbox.notify`` here; the frame read off an open stream by a plain HTTP client."""
    from mailer.api import inbox

    arrivals: queue.Queue[tuple[str, float]] = queue.Queue()
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request("GET", f"/notifications/stream?token={inbox.notification_token(USER)}")
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"the stream answered {response.status}: {response.read()!r}")

    def read() -> None:
        frame_id = ""
        try:
            for line in response:  # stamped at its data line: the opening frame has none
                if line.startswith(b"id: "):
                    frame_id = line[4:].strip().decode()
                elif line.startswith(b"data: "):
                    arrivals.put((frame_id, time.perf_counter()))
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed at the end of the run

    threading.Thread(target=read, daemon=True).start()

    def publish(number: int) -> tuple[str, float]:
        started = time.perf_counter()
        return inbox.notify(USER, f"Notification {number}", "A body of a usual length."), started

    try:
        yield _timed(publish, arrivals)
    finally:
        if connection.sock is not None:  # wakes the reader blocked on it
            connection.sock.shutdown(socket.SHUT_RDWR)
        connection.close()


def _timed(
    publish: Publish, arrivals: queue.Queue[tuple[str, float]]
) -> Callable[[int], tuple[str, float]]:
    """``publish`` then wait for its arrival: returns its id and its latency in ms."""

    def one(number: int) -> tuple[str, float]:
        published_id, started = publish(number)
        arrived_id, arrived = arrivals.get(timeout=_ARRIVAL_TIMEOUT_S)
        if arrived_id != published_id:
            raise RuntimeError(f"{published_id} was published, {arrived_id} arrived")
        return published_id, (arrived - started) * 1000

    return one


# --- measuring and reporting -------------------------------------------------------------------


def _measure(
    series: dict[str, Callable[[int], tuple[str, float]]], args: argparse.Namespace
) -> dict[str, list[float]]:
    """Warm-up, then blocks of each series in turn; latencies in ms per series."""
    for one in series.values():
        for number in range(args.warmup):
            one(number)
    samples: dict[str, list[float]] = {name: [] for name in series}
    done = 0
    while done < args.n:
        size = min(args.block, args.n - done)
        for name, one in series.items():
            samples[name].extend(one(done + i)[1] for i in range(size))
        done += size
    return samples


def _report(samples: dict[str, list[float]], args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"n": args.n, "goal_ms": GOAL_MS}
    print(f"  {'':>20}  {'p50':>8}  {'p95':>8}  {'max':>8}")
    for name, values in samples.items():
        ordered = sorted(values)
        row = {"p50": percentile(ordered, 50), "p95": percentile(ordered, 95), "max": ordered[-1]}
        figures[name] = row
        print(
            f"  {LABELS[name]:>20}  "
            + "  ".join(f"{row[q]:6.2f} ms" for q in ("p50", "p95", "max"))
        )
    stream, baseline = figures[STREAM], figures[BASELINE]
    figures["p50_over_baseline_ms"] = stream["p50"] - baseline["p50"]
    met = stream["max"] < GOAL_MS
    print(
        f"  the stream adds {figures['p50_over_baseline_ms']:.2f} ms at the median to the bare"
        f" round trip; slowest {stream['max']:.1f} ms ({'met' if met else 'MISSED'}:"
        f" < {GOAL_MS:.0f} ms)"
    )
    return figures


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.notification_latency", __doc__)
    parser.add_argument("--n", type=int, default=200, help="notifications measured per series")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured ones first, per series")
    parser.add_argument("--block", type=int, default=20, help="notifications per turn")
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
