"""The benchmarks' helper processes: a real ``dramatiq`` worker, an SMTP sink and the
``mailer dashboard`` web process.

Run as a module (``python -m bench.processes``), this file is the SMTP sink: an aiosmtpd
server that accepts everything and prints ``<unix time> <recipients>`` for each message.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import HOST, REPO_ROOT, BenchRedis, bench_redis, configure_process, write_json
from mailer.embedded_redis import die_with_parent, free_port


def run_with_sink(
    args: argparse.Namespace,
    run: Callable[[BenchRedis, SMTPSinkProcess, argparse.Namespace], dict[str, Any]],
) -> dict[str, Any]:
    """A benchmark that delivers over SMTP: its Redis, a sink, settings pointing at both."""
    with bench_redis(args.redis_url) as server, SMTPSinkProcess() as sink:
        configure_process(server.url, smtp_port=sink.port)
        figures = run(server, sink, args)
    write_json(args.json, figures)
    return figures


def _spawn(command: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=None if env is None else {**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Linux only: a benchmark killed outright leaves no worker or sink behind.
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )


def _stop(process: subprocess.Popen[str], timeout_s: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class WorkerProcess:
    """``dramatiq mailer.actors [modules]``, the command users run, with this process's env.

    ``processes`` and ``threads`` left ``None`` keep Dramatiq's defaults (a process per CPU,
    8 threads each), as a stock deployment would.
    """

    def __init__(
        self,
        modules: Sequence[str] = (),
        *,
        processes: int | None = None,
        threads: int | None = None,
    ) -> None:
        options = [] if processes is None else ["--processes", str(processes)]
        options += [] if threads is None else ["--threads", str(threads)]
        self.processes = processes or multiprocessing.cpu_count()
        command = [sys.executable, "-m", "dramatiq", "mailer.actors", *modules, *options]
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        self._ready = threading.Semaphore(0)
        self.process = _spawn(command)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # drained always: a full pipe would stall the worker
            self.output.append(line)
            if "Worker process is ready for action" in line:
                self._ready.release()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        for _ in range(self.processes):
            if not self._ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
                self.stop()
                raise RuntimeError("the worker did not start:\n" + "".join(self.output))

    def stop(self, timeout_s: float = 30.0) -> None:
        _stop(self.process, timeout_s)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class DashboardProcess:
    """``mailer dashboard`` with this process's env and the operator account it needs."""

    def __init__(self, start_timeout_s: float = 30.0) -> None:
        self.port = free_port()
        mailer = str(Path(sys.executable).with_name("mailer"))
        command = [mailer, "dashboard", "--host", HOST, f"--port={self.port}", "--threads=4"]
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        account = {"MAILER_DASHBOARD_USER": "bench", "MAILER_DASHBOARD_PASSWORD": "bench only"}
        self.process = _spawn(command, account)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + start_timeout_s
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the dashboard did not start:\n" + "".join(self.output))
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # drained always: a full pipe would stall the server
            self.output.append(line)

    def stop(self, timeout_s: float = 10.0) -> None:
        _stop(self.process, timeout_s)

    def __enter__(self) -> DashboardProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class SMTPSinkProcess:
    """The SMTP sink in a process of its own, recording when each recipient's message arrived.

    Its own process so that it neither shares the benchmark's GIL (whose own work would delay
    the arrival stamps) nor the worker's: on two cores, worker and sink each get one.
    Arrival times are ``time.time()`` in the sink, comparable with the benchmark's own.
    """

    def __init__(self, start_timeout_s: float = 30.0) -> None:
        self._lock = threading.Condition()
        self._times: list[float] = []
        self._by_recipient: dict[str, float] = {}
        self._connections = 0
        self.port = 0
        self.process = _spawn([sys.executable, "-m", "bench.processes"])
        threading.Thread(target=self._read, daemon=True).start()
        with self._lock:
            if not self._lock.wait_for(
                lambda: self.port or self.process.poll() is not None, start_timeout_s
            ):
                self.stop()
            if not self.port:
                raise RuntimeError("the SMTP sink did not start")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kind, _, rest = line.strip().partition(" ")
            with self._lock:
                if kind == "ready":
                    self.port = int(rest)
                elif kind == "connect":
                    self._connections += 1
                elif kind:
                    for recipient in rest.split():
                        self._times.append(float(kind))
                        self._by_recipient[recipient] = float(kind)
                self._lock.notify_all()
        with self._lock:
            self._lock.notify_all()

    def reset(self) -> None:
        with self._lock:
            self._times.clear()
            self._by_recipient.clear()
            self._connections = 0

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._times)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def arrival_times(self) -> list[float]:
        with self._lock:
            return list(self._times)

    def wait_for_count(self, count: int, timeout_s: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self._times) >= count, timeout_s)

    def arrival_of(self, recipient: str, timeout_s: float) -> float | None:
        with self._lock:
            self._lock.wait_for(lambda: recipient in self._by_recipient, timeout_s)
            return self._by_recipient.get(recipient)

    def stop(self) -> None:
        _stop(self.process, timeout_s=5)

    def __enter__(self) -> SMTPSinkProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _serve_smtp_sink() -> None:
    """Accept every message, print its arrival; a named host spares aiosmtpd a DNS lookup."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            print(f"{time.time():.6f} {' '.join(envelope.rcpt_tos)}", flush=True)
            return "250 2.0.0 Ok: queued"

    class CountingSMTP(SMTP):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            print("connect", flush=True)
            super().connection_made(transport)

    handler = Handler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountingSMTP(handler, hostname="bench-sink.test", enable_SMTPUTF8=True), HOST, 0
    )
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve_smtp_sink())  # until SIGTERM, whose default action ends it
