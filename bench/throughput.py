"""Worker throughput: mailer's worker against a hand-written Dramatiq actor doing the same
work, with Dramatiq's no-op drain rate as the ceiling.

For each shape (1 process x 8 threads, 2 x 8) and type (``welcome``, ``new_post``), N emails
are queued first, then a fresh worker drains them into an SMTP sink: ``dramatiq
mailer.actors`` for mailer, ``dramatiq bench.handwritten`` for the baseline (one actor
rendering the same template, inlining its CSS with css-inline, building an ``EmailMessage``,
sending over a per-thread ``smtplib.SMTP``; see ``bench/handwritten.py``). The no-op actor of
that module gives the ceiling. Every run has a Redis and a sink of its own.

The sink is Postfix's ``smtp-sink``, a C server that is never the bottleneck; without it the
Python sink of ``bench.processes`` is used, and the output says so. A run's rate and CPU run
from the first message the worker takes to the last one acked (sampled every 5 ms), so the
worker's start and the queueing do not count; CPU is user + system time of the worker's
processes (``/proc``), per email, and beside it Redis's own (``INFO cpu``) over the same span:
on two cores, the worker, Redis and the sink share the machine.

``send_email`` leaves each new email's ``queued`` delivery-log record to the workers
(``mailer.stores.unrecorded``), so the worker under test writes them during the drain, as it
does in production, and their cost counts as part of each email's.

    python -m bench.throughput [--n 3000] [--rounds 1] [--threads 8] [--shapes 1,2]
                               [--templates welcome,new_post]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from bench.common import HOST, REPO_ROOT, SENDER, add_common_options, bench_parser, write_json
from bench.processes import SMTPSinkProcess, _listening, _spawn, _stop
from mailer.embedded_redis import free_port, running_redis

SMTP_SINK = "/usr/sbin/smtp-sink"
KINDS = {
    "mailer": "mailer.actors",
    "hand-written": "bench.handwritten",
    "no-op": "bench.handwritten",
}
_TICKS_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    kind: str
    template: str
    processes: int
    threads: int
    emails_per_s: float
    cpu_ms_per_email: float
    emails: int  # taken and acked between the first and last sample
    #: Redis's own CPU over the same span, per email: its share of the machine's two cores.
    redis_ms_per_email: float = 0.0


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    os.environ.pop("MAILER_TEMPLATES_DIR", None)  # the bundled types only, as measured here
    shapes = [int(p) for p in args.shapes.split(",")]
    templates = args.templates.split(",")
    sink = "smtp-sink (Postfix, C)" if os.path.exists(SMTP_SINK) else "aiosmtpd (Python)"
    print(f"throughput: {args.n:,} emails per run, {args.threads} threads per process,")
    print(f"  SMTP sink: {sink}; a Redis of its own per run; load {_load()}")
    header = (
        f"  {'shape':5} {'template':9} {'kind':13} {'emails/s':>9} {'CPU ms/email':>13}"
        f" {'Redis ms/email':>15}"
    )
    print(header)
    runs: list[Run] = []
    for round_no in range(args.rounds):
        for processes in shapes:
            runs.append(_printed(run_once("no-op", "welcome", processes, args)))
            for template in templates:
                kinds = ["mailer", "hand-written"]
                for kind in kinds if round_no % 2 == 0 else reversed(kinds):
                    runs.append(_printed(run_once(kind, template, processes, args)))
    figures = _report(runs, shapes, templates, args)
    write_json(args.json, figures)
    return figures


def run_once(kind: str, template: str, processes: int, args: argparse.Namespace) -> Run:
    """N emails queued on a fresh Redis, then drained by a fresh worker into a fresh sink."""
    with running_redis() as server, _sink(args.n if kind != "no-op" else 0) as (port, wait):
        env = _environment(server.url, port)
        queue = _load_queue(kind, template, args.n, env)
        module = KINDS[kind]
        command = [sys.executable, "-m", "dramatiq", module, "--processes", str(processes)]
        worker = _spawn([*command, "--threads", str(args.threads)], env)
        output: collections.deque[str] = collections.deque(maxlen=50)
        assert worker.stdout is not None  # drained always: a full pipe would stall the worker
        threading.Thread(target=output.extend, args=(worker.stdout,), daemon=True).start()
        try:
            emails, seconds, cpu_s, redis_cpu_s = _drain(server.url, queue, args.n, worker)
            if not wait(max(60.0, args.n / 20)):
                raise RuntimeError(f"{kind}: not every email reached the SMTP sink")
        finally:
            _stop(worker, 30)
        if emails < args.n // 2:
            log = "".join(output)
            raise RuntimeError(f"{kind} drained {emails} of {args.n}; worker output:\n{log}")
    per_email = 1000 / emails
    return Run(
        kind,
        template,
        processes,
        args.threads,
        emails / seconds,
        cpu_s * per_email,
        emails,
        redis_cpu_s * per_email,
    )


def _drain(
    url: str, queue: str, n: int, worker: subprocess.Popen[str]
) -> tuple[int, float, float, float]:
    """Sample the queue every 5 ms from the first message taken to the last acked: how many
    went, in how long, for how much CPU in the worker's processes and in Redis."""
    client = redis.Redis.from_url(url)
    key = f"dramatiq:{queue}.msgs"  # a message stays here until acked
    deadline = time.monotonic() + max(120.0, n / 10)
    first: tuple[float, float, int, float] | None = None
    while time.monotonic() < deadline and worker.poll() is None:
        left, now, cpu = int(client.hlen(key)), time.monotonic(), _cpu_s(worker.pid)
        if first is None and left < n:
            first = (now, cpu, left, _redis_cpu_s(client))
        if first is not None and left == 0:
            return first[2], now - first[0], cpu - first[1], _redis_cpu_s(client) - first[3]
        time.sleep(0.005)
    raise RuntimeError(f"the queue {queue} did not drain (worker exit code {worker.poll()})")


def _redis_cpu_s(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every process below it."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS_S
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _environment(redis_url: str, smtp_port: int) -> dict[str, str]:
    """What the loader and the worker of one run read: its Redis, its sink, news links."""
    return {
        "REDIS_URL": redis_url,
        "MAILER_FROM": SENDER,
        "MAILER_BACKEND": "smtp",
        "SMTP_HOST": HOST,
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "MAILER_PUBLIC_URL": "https://app.example.com",
        "MAILER_SECRET_KEY": "bench only: a fixed key that signs nothing real",
    }


_LOADER = """
import sys, json
kind, template, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
from bench.throughput import context_for
if kind == "mailer":
    from mailer.actors.emails import lookup
    from mailer.api.email import send_email
    for i in range(n):  # their queued records are the worker's to write, as in production
        send_email(template, to=f"user{i}@example.com", context=context_for(template, i))
    print(lookup(template).priority.queue_name)
else:
    from bench import handwritten
    actor = handwritten.noop if kind == "no-op" else handwritten.send_by_hand
    for i in range(n):
        actor.send(f"user{i}@example.com", template, context_for(template, i, by_hand=True))
    print(handwritten.QUEUE)
"""


def _load_queue(kind: str, template: str, n: int, env: dict[str, str]) -> str:
    """Queue ``n`` emails in a process of its own (mailer reads its settings once per
    process); returns the queue they wait in."""
    env = {**os.environ, **env}
    done = subprocess.run(
        [sys.executable, "-c", _LOADER, kind, template, str(n)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"queueing {kind} failed:\n{done.stderr}")
    return done.stdout.split()[-1]


def context_for(template: str, i: int, *, by_hand: bool = False) -> dict[str, Any]:
    """The type's ``sample.json`` with the recipient's own name, as real sends differ. mailer
    makes each news recipient's unsubscribe link itself; the hand-written actor is given one."""
    context: dict[str, Any] = json.loads(
        (REPO_ROOT / "templates" / template / "sample.json").read_text()
    )
    if "name" in context:
        context["name"] = f"User {i}"
    context.pop("unsubscribe_url", None)
    if by_hand and template == "new_post":
        context["unsubscribe_url"] = f"https://app.example.com/unsubscribe/user{i}-{i * 7919:x}"
    return context


@contextmanager
def _sink(n: int) -> Iterator[tuple[int, Any]]:
    """An SMTP sink's port and ``wait(timeout_s) -> bool``: True once ``n`` emails arrived."""
    if not os.path.exists(SMTP_SINK):
        with SMTPSinkProcess() as python_sink:
            yield python_sink.port, lambda timeout_s: python_sink.wait_for_count(n, timeout_s)
        return
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
    # -c: "sess=.. quit=.. mesg=N" after every message, each ending in CR.
    sink = subprocess.Popen(
        [SMTP_SINK, *user, "-c", f"{HOST}:{port}", "256"], stdout=subprocess.PIPE
    )
    arrived = threading.Condition()
    count = [0]

    def read() -> None:
        assert sink.stdout is not None
        for chunk in iter(lambda: os.read(sink.stdout.fileno(), 65536), b""):
            last = chunk.rstrip(b"\r").rsplit(b"\r", 1)[-1]
            if b"mesg=" in last:
                with arrived:
                    count[0] = int(last.rsplit(b"mesg=", 1)[1])
                    arrived.notify_all()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 10
    while not _listening(port):
        if sink.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{SMTP_SINK} did not start")
        time.sleep(0.02)

    def wait(timeout_s: float) -> bool:
        with arrived:
            return arrived.wait_for(lambda: count[0] >= n, timeout_s)

    try:
        yield port, wait
    finally:
        sink.terminate()
        sink.wait()


def _printed(run: Run) -> Run:
    shape = f"{run.processes}x{run.threads}"
    template = "-" if run.kind == "no-op" else run.template
    print(
        f"  {shape:5} {template:9} {run.kind:13} {run.emails_per_s:9.1f} "
        f"{run.cpu_ms_per_email:13.2f} {run.redis_ms_per_email:15.2f}",
        flush=True,
    )
    return run


def _report(
    runs: list[Run], shapes: list[int], templates: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    print("  summary (median of rounds): mailer / hand-written")
    for processes in shapes:
        ceiling = statistics.median(r.emails_per_s for r in _series(runs, "no-op", processes))
        for template in templates:
            mine = _series(runs, "mailer", processes, template)
            theirs = _series(runs, "hand-written", processes, template)
            figures = {
                field: {
                    kind: statistics.median(getattr(r, field) for r in series)
                    for kind, series in (("mailer", mine), ("hand-written", theirs))
                }
                for field in ("emails_per_s", "cpu_ms_per_email", "redis_ms_per_email")
            }
            rate, cpu = figures["emails_per_s"], figures["cpu_ms_per_email"]
            summary[f"{processes}x{args.threads} {template}"] = {
                **figures,
                "ratio": rate["mailer"] / rate["hand-written"],
                "cpu_ratio": cpu["hand-written"] / cpu["mailer"],
                # a round's two runs are adjacent in time: the machine's pace changes less
                "round_ratios": [
                    m.emails_per_s / h.emails_per_s for m, h in zip(mine, theirs, strict=True)
                ],
                "noop_per_s": ceiling,
            }
            _print_summary(f"{processes}x{args.threads} {template}", summary, ceiling)
    return {
        "summary": summary,
        "runs": [run.__dict__ for run in runs],
        "n": args.n,
        "load": _load(),
    }


def _series(runs: list[Run], kind: str, processes: int, template: str = "") -> list[Run]:
    """One kind's runs at one shape (and type, but for the no-op), in the order run."""
    return [
        run
        for run in runs
        if run.kind == kind
        and run.processes == processes
        and (kind == "no-op" or run.template == template)
    ]


def _print_summary(name: str, summary: dict[str, Any], ceiling: float) -> None:
    figures = summary[name]
    rate, cpu = figures["emails_per_s"], figures["cpu_ms_per_email"]
    in_redis = figures["redis_ms_per_email"]
    rounds = ", ".join(f"{ratio:.2f}x" for ratio in figures["round_ratios"])
    print(
        f"  {name:12} {rate['mailer']:7.1f} vs {rate['hand-written']:7.1f} emails/s "
        f"({figures['ratio']:.2f}x; each round: {rounds}); CPU {cpu['mailer']:.2f} vs "
        f"{cpu['hand-written']:.2f} ms/email ({figures['cpu_ratio']:.2f}x less); Redis "
        f"{in_redis['mailer']:.2f} vs {in_redis['hand-written']:.2f} ms/email; no-op "
        f"ceiling {ceiling:.0f}/s"
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.throughput", __doc__)
    parser.add_argument("--n", type=int, default=3_000, help="emails per run")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each kind")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--shapes", default="1,2", help="worker process counts, comma-separated")
    parser.add_argument("--templates", default="welcome,new_post", help="email types")
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
