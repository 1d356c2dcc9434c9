"""The notification stream in a real browser: a page on the app's origin opens an EventSource on
the stream endpoint, served by ``mailer dashboard`` (the Procfile's web process) as deployed,
and sees a notification another process publishes within a second. When the server dies and
comes back, the browser reconnects with its Last-Event-ID and gets exactly what it missed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mailer import settings
from mailer.embedded_redis import free_port
from mailer.settings import Settings
from tests.support.ports import wait_for_port
from tests.support.worker import REPO_ROOT

pytestmark = pytest.mark.integration

SECRET = "integration secret key for notification streams"
TIMEOUT_MS = 15_000

PAGE = b"""<!doctype html>
<title>Inbox</title>
<ul id="notifications"></ul>
<script>
  window.received = [];
  window.opens = 0;
  window.errors = 0;
  const source = new EventSource(new URLSearchParams(location.search).get("stream"));
  source.onopen = () => { window.opens += 1; };
  source.onerror = () => { window.errors += 1; };
  source.addEventListener("notification", (event) => {
    const notification = JSON.parse(event.data);
    window.received.push({ lastEventId: event.lastEventId, at: Date.now(), ...notification });
    const item = document.createElement("li");
    item.textContent = notification.title;
    document.getElementById("notifications").append(item);
  });
</script>
"""


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: http.server would print every request of the page to stderr."""


@pytest.fixture
def page_origin() -> Iterator[str]:
    """The application's own pages, on an origin other than the stream's."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


class StreamServer:
    """``mailer dashboard`` on a fixed port, restartable: the stream is one of its endpoints."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = env
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        mailer = str(Path(sys.executable).with_name("mailer"))
        command = [mailer, "dashboard", "--host", "127.0.0.1", f"--port={self.port}"]
        self.process = subprocess.Popen(
            [*command, "--threads=8"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for_port(self.process, self.port, "mailer dashboard")

    def kill(self) -> None:
        """SIGKILL: a crashed server closes nothing politely."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.communicate()


@pytest.fixture
def stream_env(page_origin: str) -> Iterator[dict[str, str]]:
    """The environment of every process here, this one's settings included."""
    env = {**os.environ, "MAILER_SECRET_KEY": SECRET, "MAILER_CORS_ORIGINS": page_origin}
    env.update(MAILER_DASHBOARD_USER="ops", MAILER_DASHBOARD_PASSWORD="a long passphrase")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    settings.configure(Settings.from_env(env))
    yield env
    settings.configure(None)


@pytest.fixture
def stream_server(stream_env: dict[str, str]) -> Iterator[StreamServer]:
    server = StreamServer(stream_env)
    server.start()
    yield server
    server.kill()


def publish(env: dict[str, str], *titles: str) -> list[tuple[str, float]]:
    """``mailer.api.inbox.notify`` in a process of its own, as a web app's request would call it;
    each notification's id and the time ``notify`` returned."""
    code = (
        "import sys, time\n"
        "from mailer.api import inbox\n"
        "for title in sys.argv[1:]:\n"
        "    print(inbox.notify('ann', title), time.time(), flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *titles],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [(line.split()[0], float(line.split()[1])) for line in done.stdout.splitlines()]


def open_inbox(browser: Any, page_origin: str, stream_url: str) -> Any:
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{page_origin}/?stream={quote(stream_url, safe='')}")
    page.wait_for_function("window.opens >= 1")
    return page


def test_a_notification_reaches_the_page_within_a_second_and_survives_a_server_restart(
    browser: Any, page_origin: str, stream_env: dict[str, str], stream_server: StreamServer
):
    from mailer.api.inbox import notification_token

    stream_url = f"{stream_server.url}/notifications/stream?token={notification_token('ann')}"
    page = open_inbox(browser, page_origin, stream_url)

    [(first, published_at)] = publish(stream_env, "Your order shipped")
    page.wait_for_function("window.received.length >= 1")
    received = page.evaluate("window.received")
    assert [item["id"] for item in received] == [first]
    assert received[0]["lastEventId"] == first
    assert received[0]["at"] / 1000 - published_at < 1.0
    assert page.locator("#notifications li").all_inner_texts() == ["Your order shipped"]

    stream_server.kill()
    page.wait_for_function("window.errors >= 1")
    missed = [notification_id for notification_id, _ in publish(stream_env, "Second", "Third")]
    stream_server.start()
    page.wait_for_function("window.received.length >= 3")
    time.sleep(1.0)  # a duplicate would arrive right behind them

    received = page.evaluate("window.received")
    assert [item["id"] for item in received] == [first, *missed]
    assert [item["title"] for item in received] == ["Your order shipped", "Second", "Third"]
    assert page.evaluate("window.opens") >= 2


def test_a_page_on_an_origin_not_allowed_cannot_read_the_stream(
    browser: Any, page_origin: str, stream_env: dict[str, str], stream_server: StreamServer
):
    from mailer.api.inbox import notification_token

    stream_url = f"{stream_server.url}/notifications/stream?token={notification_token('ann')}"
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    other_origin = page_origin.replace("127.0.0.1", "localhost")  # the same server, not allowed
    page.goto(f"{other_origin}/?stream={quote(stream_url, safe='')}")

    page.wait_for_function("window.errors >= 1")
    assert page.evaluate("window.opens") == 0


def test_one_published_while_the_server_is_down_before_any_arrived_is_not_lost(
    browser: Any, page_origin: str, stream_env: dict[str, str], stream_server: StreamServer
):
    from mailer.api.inbox import notification_token

    stream_url = f"{stream_server.url}/notifications/stream?token={notification_token('ann')}"
    page = open_inbox(browser, page_origin, stream_url)

    stream_server.kill()
    page.wait_for_function("window.errors >= 1")
    [(missed, _)] = publish(stream_env, "Sent while the server was down")
    stream_server.start()
    page.wait_for_function("window.received.length >= 1")
    time.sleep(1.0)

    assert [item["id"] for item in page.evaluate("window.received")] == [missed]
