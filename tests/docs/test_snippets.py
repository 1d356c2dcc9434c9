"""Every ```python block in README.md and docs/ runs, as the app code it shows.

A snippet is a promise: it runs here with the memory backend against the suite's Redis, and
what it queued must go through the real actors, templates and middleware without failing
(``conftest.settle``). ruff's pyflakes rules also read it, so a name used in a function the
snippet only defines is caught too. A block that is not meant to run is marked ```text,
```bash, ```toml or the like.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from pytest_examples import CodeExample, EvalExample, find_examples

from tests.docs.conftest import settle

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = ("python", "py")


def python_blocks() -> list[CodeExample]:
    found = find_examples(ROOT / "README.md", ROOT / "docs")
    return [block for block in found if block.path.suffix == ".md"]


BLOCKS = python_blocks()


def block_id(block: CodeExample) -> str:
    return f"{block.path.relative_to(ROOT)}:{block.start_line}"


@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_the_snippet_runs(
    block: CodeExample,
    eval_example: EvalExample,
    app_worker: StubBroker,
    app_subscribers: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert block.prefix in RUNNABLE, (
        f"```{block.prefix} would not run: write ```python, or mark it ```text / ```bash"
    )
    eval_example.set_config(ruff_select=["F"], ruff_ignore=["F401"], target_version="py310")
    eval_example.lint_ruff(block)
    # pytest-examples runs the block as ``__main__`` and leaves it in sys.modules.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    eval_example.run(block)
    settle(app_worker)


def test_the_docs_have_snippets_to_run() -> None:
    """A collector that found nothing would pass every run."""
    files = {block.path.relative_to(ROOT).as_posix() for block in BLOCKS}
    assert "README.md" in files
    assert len([f for f in files if f.startswith("docs/")]) >= 5, files
