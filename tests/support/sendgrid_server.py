"""A real HTTP server standing in for SendGrid's ``POST /v3/mail/send``.

It runs in a thread on a free loopback port, so the backend in the test process and a worker
in another process both reach it over TCP. It records every request, with the time it arrived,
and answers 202 with an ``X-Message-Id``, unless told otherwise: ``script`` queues replies (a
429, a 500 ...) that are used up one per request, and ``api_key`` makes any other
``Authorization`` get SendGrid's 401.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MAIL_SEND_PATH = "/v3/mail/send"
# SendGrid's own answer to a bad key, word for word.
UNAUTHORIZED_BODY: dict[str, Any] = {
    "errors": [
        {
            "message": "The provided authorization grant is invalid, expired, or revoked",
            "field": None,
            "help": None,
        }
    ]
}

Reply = tuple[int, Mapping[str, str], Any]  # status, headers, body (bytes, str or JSON data)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON, or the raw bytes when the body is not JSON
    received_at: float = field(default_factory=time.time)  # when it arrived, ``time.time()``

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


class SendGridServer:
    """The fake API; ``host`` is what ``MAILER_SENDGRID_HOST`` should be set to."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.message_ids: list[str] = []  # the X-Message-Id of each 202, in order
        self.api_key: str | None = None
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        # A short poll keeps ``stop`` (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def start(self) -> SendGridServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def script(self, replies: list[Reply]) -> None:
        """The next requests get these replies, in order; then 202s again."""
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.message_ids.clear()
            self._replies.clear()
            self.api_key = None

    def wait_for_requests(self, count: int, timeout_s: float = 10.0) -> list[RecordedRequest]:
        """At least ``count`` recorded requests, waiting for a worker in another process."""
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} SendGrid requests, wanted {count}")
            time.sleep(0.02)
        return list(self.requests)

    def answer(self, request: RecordedRequest) -> Reply:
        """Record the request and choose its reply."""
        with self._lock:
            self.requests.append(request)
            if self.api_key is not None and request.authorization != f"Bearer {self.api_key}":
                return 401, {}, UNAUTHORIZED_BODY
            if request.method != "POST" or request.path != MAIL_SEND_PATH:
                return 404, {}, {"errors": [{"message": "not found", "field": None}]}
            if self._replies:
                return self._replies.pop(0)
            self.message_ids.append(uuid.uuid4().hex[:22])
            return 202, {"X-Message-Id": self.message_ids[-1]}, b""


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest(self.command, self.path, headers, body)
        self._reply(*self.server.fake.answer(request))  # type: ignore[attr-defined]

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def _reply(self, status: int, headers: Mapping[str, str], body: Any) -> None:
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests are the log."""


@pytest.fixture
def sendgrid_api() -> Iterator[SendGridServer]:
    """A fresh fake SendGrid API per test, on its own port."""
    server = SendGridServer().start()
    try:
        yield server
    finally:
        server.stop()
