"""``mailer web`` as the platform runs it: a waitress process answering ``/healthz`` over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from mailer import send_email
from mailer.embedded_redis import free_port
from mailer.priorities import LEVELS
from tests.support.worker import REPO_ROOT

pytestmark = pytest.mark.integration

NEW_POST = {"title": "Hello", "url": "https://example.com/p/1", "excerpt": "First post"}


@dataclass
class WebProcess:
    process: subprocess.Popen[str]
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> str:
        """Ctrl-C, as waitress expects; returns everything the process printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            output, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return output


def web_command(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    merged = {**os.environ, **env}
    merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.getenv("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "mailer.cli", "web", "--host", "127.0.0.1", *args],
        env=merged,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def start_web() -> Iterator[Callable[..., WebProcess]]:
    """``start_web(env, port_from_env=False)``: a web process, once its port accepts."""
    started: list[WebProcess] = []

    def start(env: dict[str, str] | None = None, *, port_from_env: bool = False) -> WebProcess:
        port = free_port()
        env = dict(env or {})
        if port_from_env:
            process = web_command(env={**env, "PORT": str(port)})
        else:
            process = web_command("--port", str(port), env=env)
        web = WebProcess(process, port)
        started.append(web)
        wait_for_port(web)
        return web

    yield start
    for web in started:
        web.stop()


def wait_for_port(web: WebProcess, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if web.process.poll() is not None:
            pytest.fail(f"mailer web exited with {web.process.returncode}:\n{web.stop()}")
        try:
            with socket.create_connection(("127.0.0.1", web.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"mailer web did not listen on {web.port}:\n{web.stop()}")


def get(url: str) -> tuple[int, str, dict[str, object]]:
    """Status, content type and decoded JSON body, whatever the status."""
    try:
        response = urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as err:
        response = err
    with response:
        return response.status, response.headers["Content-Type"], json.loads(response.read())


def test_healthz_counts_the_waiting_messages_per_level(start_web):
    web = start_web()
    for _ in range(3):
        send_email("new_post", to="ann@example.com", context=NEW_POST)
    status, content_type, body = get(web.url("/healthz"))
    assert (status, content_type) == (200, "application/json")
    assert body == {"status": "ok", "queues": {**dict.fromkeys(LEVELS, 0), "low": 3}}


def test_healthz_is_503_without_showing_the_redis_url_when_redis_is_down(start_web):
    closed = free_port()
    url = f"redis://:s3cret@127.0.0.1:{closed}/0"
    web = start_web({"REDIS_URL": url})
    status, content_type, body = get(web.url("/healthz"))
    assert (status, content_type) == (503, "application/json")
    assert body["status"] == "down"
    for secret in (url, "s3cret", str(closed), "127.0.0.1"):
        assert secret not in json.dumps(body)


def test_an_unknown_path_is_404(start_web):
    web = start_web()
    assert get(web.url("/no/such/page"))[:2] == (404, "application/json")


def test_the_port_comes_from_the_platforms_port_variable(start_web):
    web = start_web(port_from_env=True)
    assert get(web.url("/healthz"))[0] == 200
    output = web.stop()
    assert web.process.returncode == 0, output
    assert f"Serving on http://127.0.0.1:{web.port}" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("env", "variable"),
    [({"PORT": "web"}, "PORT"), ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL")],
    ids=["bad-port", "bad-redis-url"],
)
def test_a_misconfigured_web_process_exits_at_startup(env, variable):
    """It must not start and then fail every health check with a 500."""
    web = WebProcess(web_command(env=env), port=0)
    try:
        web.process.wait(timeout=30)
    finally:
        output = web.stop()
    assert web.process.returncode == 2, output
    assert output.startswith(f"mailer: {variable}: "), output
    assert "Traceback" not in output
