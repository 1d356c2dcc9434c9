"""A real browser for tests of pages: Debian's headless Chromium, driven by Playwright.

The integration tests' conftest provides the fixture to every module there: Playwright's
sync API runs one instance per thread, so two modules each importing it would clash.
``browser`` is one Chromium for the session; each test opens its own context (cookies,
credentials) with ``browser.new_context(...)``. Playwright's own browser downloads are not
used: the system's ``/usr/bin/chromium`` is (``apt-get install chromium``), which keeps the
suite offline. A missing Chromium or Playwright fails the test with what to install, so a CI
machine without them cannot pass the page tests by skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Debian's package; ``MAILER_TEST_CHROMIUM`` points elsewhere on other systems.
CHROMIUM = Path(os.environ.get("MAILER_TEST_CHROMIUM", "/usr/bin/chromium"))


def _chromium() -> Path:
    found = CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")
    if found is None:
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium`, "
            "or set MAILER_TEST_CHROMIUM to a Chromium or Chrome binary",
            pytrace=False,
        )
    return Path(found)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the page tests need Playwright's Python package: `pip install playwright` "
            "(its browser download is not needed: the system's Chromium is used)",
            pytrace=False,
        )
    executable = _chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
