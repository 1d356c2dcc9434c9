"""The public calls with Redis away, in a process of their own as an app's would be: refused
at once (nothing listens) or still loading its dataset (a restart with AOF on). Each raises
``mailer.BrokerUnavailable`` with redis-py's error as the cause, quickly, and never prints the
password of the URL it names."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from mailer.embedded_redis import free_port
from tests.support.worker import REPO_ROOT

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-pw"
LOADING = b"-LOADING Redis is loading the dataset in memory\r\n"

# Every call that must raise, one per line of output: its name, the error's type, its cause's
# type, its message, and how long it took.
_SCRIPT = """
import json, sys, time
import mailer
from datetime import datetime, timedelta, timezone

at = datetime.now(timezone.utc) + timedelta(days=1)
calls = {
    "send_email": lambda: mailer.send_email("welcome", "ann@example.com", {"name": "Ann"}),
    "send_email_with_key": lambda: mailer.send_email(
        "welcome", "ann@example.com", {"name": "Ann"}, idempotency_key="k"
    ),
    "schedule_email": lambda: mailer.schedule_email(
        "welcome", "ann@example.com", {"name": "Ann"}, at=at, key="k"
    ),
    "send_bulk": lambda: mailer.send_bulk(
        "new_post", ["ann@example.com"], {"title": "T", "url": "https://e.com/p", "excerpt": "E"}
    ),
    "notify": lambda: mailer.notify(42, "Hello"),
    "publish": lambda: mailer.publish(
        "user.registered", {"email": "ann@example.com", "name": "Ann"}
    ),
    "notify_admins": lambda: mailer.notify_admins("Export failed"),
    "broadcast": lambda: mailer.broadcast("Maintenance tonight", users=[1, 2]),
    "delivery_status": lambda: mailer.delivery_status("nope"),
    "is_suppressed": lambda: mailer.is_suppressed("ann@example.com"),
}
for name, call in calls.items():
    started = time.monotonic()
    try:
        result = call()
    except Exception as err:
        cause = err.__cause__
        print(json.dumps({
            "call": name, "error": type(err).__name__, "cause": type(cause).__name__,
            "cause_module": type(cause).__module__, "message": str(err),
            "is_mailer_error": isinstance(err, mailer.MailerError),
            "elapsed_s": time.monotonic() - started,
        }))
    else:
        print(json.dumps({"call": name, "error": None, "result": repr(result)}))
"""


_CALLS = ("send_email", "send_email_with_key", "schedule_email", "send_bulk", "notify", "publish")
_CALLS += ("notify_admins", "broadcast", "delivery_status", "is_suppressed")


def run_calls(redis_url: str) -> list[dict[str, object]]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "MAILER_FLOWS": "user.registered",
        "MAILER_ADMIN_USERS": "1",
        "PYTHONPATH": str(REPO_ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert tuple(outcome["call"] for outcome in outcomes) == _CALLS
    return outcomes


def test_a_refused_connection_is_broker_unavailable_at_once() -> None:
    port = free_port()
    outcomes = run_calls(f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    assert len(outcomes) == len(_CALLS)
    for outcome in outcomes:
        assert outcome["error"] == "BrokerUnavailable", outcome
        assert outcome["is_mailer_error"], outcome
        assert outcome["cause"] == "ConnectionError", outcome
        assert str(outcome["cause_module"]).startswith("redis"), outcome
        assert f"redis://:***@127.0.0.1:{port}/0" in str(outcome["message"]), outcome
        assert float(outcome["elapsed_s"]) < 5.0, outcome  # type: ignore[arg-type]


def test_a_redis_loading_its_dataset_is_broker_unavailable(loading_redis: int) -> None:
    outcomes = run_calls(f"redis://:{PASSWORD}@127.0.0.1:{loading_redis}/0")
    assert len(outcomes) == len(_CALLS)
    for outcome in outcomes:
        assert outcome["error"] == "BrokerUnavailable", outcome
        assert outcome["cause"] == "BusyLoadingError", outcome
        assert "loading" in str(outcome["message"]), outcome
        assert float(outcome["elapsed_s"]) < 5.0, outcome  # type: ignore[arg-type]


@pytest.fixture
def loading_redis() -> Iterator[int]:
    """A server that answers every command as Redis does while it loads its AOF at start."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_answer_loading, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def _answer_loading(conn: socket.socket) -> None:
    """``-LOADING`` for each complete command received, as many as a pipeline sends at once."""
    buffer = b""
    with conn:
        while chunk := conn.recv(65536):
            buffer += chunk
            count, buffer = _complete_commands(buffer)
            conn.sendall(LOADING * count)


def _complete_commands(buffer: bytes) -> tuple[int, bytes]:
    """How many whole RESP commands ``buffer`` starts with, and what is left after them."""
    count = 0
    while (end := _command_end(buffer)) is not None:
        count, buffer = count + 1, buffer[end:]
    return count, buffer


def _command_end(buffer: bytes) -> int | None:
    if not buffer.startswith(b"*") or b"\r\n" not in buffer:
        return None
    header = buffer.partition(b"\r\n")[0]
    position = len(header) + 2
    for _ in range(int(header[1:])):
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        length = int(buffer[position + 1 : line_end])
        position = line_end + 2 + length + 2
        if position > len(buffer):
            return None
    return position
