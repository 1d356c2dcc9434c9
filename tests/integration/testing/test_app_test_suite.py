"""An app's own test suite, written as docs/testing.md shows, run by pytest in a process of its
own on a machine with no Redis: ``REDIS_URL`` points where nothing answers, no
``redis-server`` is on the ``PATH``, and the app's folder is outside this repository, so
nothing but the installed package (its ``pytest11`` entry point) provides the fixture."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.embedded_redis import free_port

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[3] / "docs" / "testing.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def doc_blocks() -> list[str]:
    return BLOCK.findall(DOCS.read_text("utf-8"))


def write_app_suite(folder: Path) -> int:
    """Each block of the page that holds tests as a test module, the fixture override as the
    suite's conftest; returns how many tests the page has."""
    tests = 0
    for number, block in enumerate(doc_blocks()):
        if "def mailer_settings_overrides" in block:
            continue  # shown for apps with their own templates; the shipped ones are used here
        if "def test_" in block:
            (folder / f"test_page_{number}.py").write_text(block, "utf-8")
            tests += block.count("\ndef test_")
    return tests


def redis_free_env(folder: Path) -> dict[str, str]:
    empty_bin = folder / "bin"
    empty_bin.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MAILER_", "PYTEST", "REDIS_"))
    }
    env["PATH"] = str(empty_bin)
    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env.pop("PYTHONPATH", None)
    assert shutil.which("redis-server", path=env["PATH"]) is None
    return env


def test_the_pages_tests_pass_with_nothing_but_the_package(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    expected = write_app_suite(app)
    assert expected >= 6
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(app)],
        cwd=app,
        env=redis_free_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{expected} passed" in done.stdout, done.stdout


def test_the_context_manager_block_runs_as_a_script(tmp_path):
    [script] = [block for block in doc_blocks() if "record()" in block]
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=redis_free_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
