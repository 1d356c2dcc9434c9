"""The pytest plugin installed with mailer (entry point ``pytest11``): the ``outbox`` fixture.

Nothing here runs unless a test asks for ``outbox``: then a private Redis server starts, once
per test session, and each test gets it emptied, with mailer inside ``record`` on it. An app
overrides ``mailer_settings_overrides`` in its ``conftest.py`` to change settings for its
tests (``{"templates_dir": Path("myapp/emails")}``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mailer.testing.outbox import Outbox


@pytest.fixture(scope="session")
def mailer_redis_url() -> Iterator[str]:
    """A Redis server of the test session's own; nothing else ever uses it."""
    from mailer.embedded_redis import running_redis

    with running_redis() as server:
        yield server.url


@pytest.fixture
def mailer_settings_overrides() -> dict[str, Any]:
    """Fields of ``mailer.settings.Settings`` to set for every test; override in a conftest."""
    return {}


@pytest.fixture
def outbox(mailer_redis_url: str, mailer_settings_overrides: dict[str, Any]) -> Iterator[Outbox]:
    """mailer running inside the test; the emails it sent, and the test's clock."""
    from mailer.testing.recording import recording

    with recording(mailer_redis_url, **mailer_settings_overrides) as box:
        yield box
