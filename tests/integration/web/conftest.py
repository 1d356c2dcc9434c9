"""The dashboard as a platform runs it, for the page tests of this folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mailer.embedded_redis import free_port
from tests.support.ports import wait_for_port
from tests.support.worker import REPO_ROOT

USER, PASSWORD = "ops", "a long dashboard passphrase"


@pytest.fixture
def dashboard_url() -> Iterator[str]:
    """``python -m waitress mailer.web.app:app`` on a free port, with an operator account."""
    port = free_port()
    env = {**os.environ, "MAILER_DASHBOARD_USER": USER, "MAILER_DASHBOARD_PASSWORD": PASSWORD}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}"]
    process = subprocess.Popen(
        [*command, "mailer.web.app:app"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(process, port, "the dashboard")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
