"""A Redis a test owns outright, with the append-only file on, to kill and bring back.

The suite's shared Redis keeps nothing on disk; an outage test needs one that reloads what it
acknowledged, as a production Redis with ``appendfsync always`` does. ``kill()`` is SIGKILL,
the harshest stop (no final save); ``start()`` again on the same port and directory reloads
the AOF, answering ``LOADING`` until it is done, as a restarted server does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.embedded_redis import die_with_parent, free_port, is_reachable, redis_executable


class AOFRedis:
    """``redis-server`` on its own free port and directory, append-only, fsync on every write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            redis_executable(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--loglevel",
            "warning",
        ]

    def start(self, timeout_s: float = 15.0) -> AOFRedis:
        """Start (or restart) the server; return once it answers PING, its AOF loaded."""
        assert self.process is None, "the server is already running"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout_s
        while not is_reachable(self.url, timeout_s=0.2):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within {timeout_s} s")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown save, only what the AOF already holds survives."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> AOFRedis:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[AOFRedis]:
    """A running ``AOFRedis`` of this test's own; ask for it before ``start_worker`` so the
    worker is stopped while its Redis is still there."""
    with AOFRedis(tmp_path / "redis") as server:
        yield server
