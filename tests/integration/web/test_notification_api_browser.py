"""The notification JSON endpoints from a real browser: a page on the app's origin calls
``mailer dashboard`` (the Procfile's web process) with ``fetch`` and the stream's token, lists
a user's notifications a page at a time, shows the unread count, marks one and then all read;
a page on an origin not allowed gets nothing."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mailer import settings
from mailer.api import inbox
from mailer.settings import Settings
from tests.integration.web.test_notification_stream import StreamServer
from tests.support.worker import REPO_ROOT

pytestmark = pytest.mark.integration

SECRET = "integration secret key for the notification endpoints"

PAGE = b"""<!doctype html>
<title>Inbox</title>
<span id="badge"></span>
<script>
  const params = new URLSearchParams(location.search);
  const headers = { Authorization: `Bearer ${params.get("token")}` };
  async function call(method, path) {
    const response = await fetch(params.get("api") + path, { method, headers });
    return { status: response.status, body: await response.json() };
  }
  window.inbox = {
    page: (query) => call("GET", "/notifications" + query),
    unread: async () => {
      const answer = await call("GET", "/notifications/unread-count");
      document.getElementById("badge").textContent = answer.body.unread;
      return answer;
    },
    markRead: (id) => call("POST", `/notifications/${id}/read`),
    markAllRead: () => call("POST", "/notifications/read-all"),
  };
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


def serve_page() -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return server, thread


@pytest.fixture
def origins() -> Iterator[tuple[str, str]]:
    """The app's origin, allowed by MAILER_CORS_ORIGINS, and another site's."""
    servers = [serve_page(), serve_page()]
    yield tuple(f"http://127.0.0.1:{server.server_port}" for server, _ in servers)  # type: ignore[misc]
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def api_server(origins: tuple[str, str]) -> Iterator[str]:
    env = {**os.environ, "MAILER_SECRET_KEY": SECRET, "MAILER_CORS_ORIGINS": origins[0]}
    env.update(MAILER_DASHBOARD_USER="ops", MAILER_DASHBOARD_PASSWORD="a long passphrase")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    settings.configure(Settings.from_env(env))
    server = StreamServer(env)
    server.start()
    yield server.url
    server.kill()
    settings.configure(None)


def open_page(browser: Any, origin: str, api: str, user_id: str) -> Any:
    page = browser.new_context().new_page()
    token = inbox.notification_token(user_id)
    page.goto(f"{origin}/?api={api}&token={token}")
    return page


def test_a_page_lists_counts_and_marks_its_users_notifications(browser, origins, api_server):
    ids = [inbox.notify("ann", f"Order {n} shipped", url=f"/orders/{n}") for n in range(5)]
    inbox.notify("bob", "Bob's own")
    page = open_page(browser, origins[0], api_server, "ann")

    first = page.evaluate("inbox.page('?limit=3')")
    assert first["status"] == 200
    assert [item["id"] for item in first["body"]["items"]] == ids[:-4:-1]
    assert first["body"]["unread"] == 5
    cursor = first["body"]["next_cursor"]
    rest = page.evaluate(f"inbox.page('?limit=3&before={cursor}')")
    assert [item["title"] for item in rest["body"]["items"]] == [
        "Order 1 shipped",
        "Order 0 shipped",
    ]
    assert rest["body"]["next_cursor"] is None

    assert page.evaluate("inbox.unread()")["body"] == {"unread": 5}
    assert page.text_content("#badge") == "5"
    assert page.evaluate(f"inbox.markRead('{ids[2]}')")["body"] == {"marked": True, "unread": 4}
    assert inbox.notifications("ann", limit=5).items[2].read
    assert page.evaluate("inbox.markAllRead()")["body"] == {"marked": 4, "unread": 0}
    assert inbox.unread_count("ann") == 0
    assert inbox.unread_count("bob") == 1  # the token names ann alone


def test_a_page_on_an_origin_not_allowed_gets_nothing(browser, origins, api_server):
    inbox.notify("ann", "Private")
    page = open_page(browser, origins[1], api_server, "ann")
    outcome = page.evaluate("inbox.markAllRead().then(() => 'read', (error) => error.name)")
    assert outcome == "TypeError"  # CORS: the preflight found no allowed origin
    assert inbox.unread_count("ann") >= 1  # so the POST itself was never sent
    assert page.evaluate("inbox.page('').then(() => 'read', (error) => error.name)") == "TypeError"
