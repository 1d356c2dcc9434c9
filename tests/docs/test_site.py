"""The documentation site builds with ``mkdocs build --strict``, and the README's links into
it, and the Procfile it quotes, are the real ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import markdown.extensions.toc

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# [text](target): the target up to a space or the closing parenthesis.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def test_the_site_builds_strict(tmp_path: Path) -> None:
    """A broken link or anchor, a nav entry without its page, a missing included README
    section: each is a warning, and --strict makes it fail."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's banner about its successor
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "configuration" / "index.html").is_file()


def anchors(path: Path) -> set[str]:
    """The heading ids a page has, as MkDocs (Python-Markdown's toc) and GitHub make them."""
    text = FENCE.sub("", path.read_text("utf-8"))
    headings = re.findall(r"^#{1,6} +(.+?) *$", text, re.M)
    toc = {markdown.extensions.toc.slugify(h, "-") for h in headings}
    github = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
    return toc | github


def readme_links() -> list[str]:
    text = FENCE.sub("", README.read_text("utf-8"))
    return [target for target in LINK.findall(text) if "://" not in target]


def test_the_readmes_links_resolve() -> None:
    broken = []
    for target in readme_links():
        path_part, _, anchor = target.partition("#")
        path = README if not path_part else ROOT / path_part
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == []
    assert any(target.startswith("docs/") for target in readme_links())


def test_every_docs_page_is_linked_from_the_readme_or_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text("utf-8")
    reachable = set(re.findall(r":\s+([\w./-]+\.md)\s*$", nav, re.M))
    reachable |= {t.partition("#")[0].removeprefix("docs/") for t in readme_links()}
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    pending = set(re.findall(r"([\w-]+\.md)", nav.partition("# Pages other changes")[2]))
    assert pages - reachable - pending == set()


def processes(text: str) -> dict[str, str]:
    lines = (line.split(":", 1) for line in text.splitlines() if re.match(r"^\w+:\s", line))
    return {name: " ".join(command.split()) for name, command in lines}


def test_the_readmes_procfile_is_the_procfile() -> None:
    """The README's "Running it" quotes the Procfile, aligned for reading."""
    quoted = re.search(
        r"^## Running it\n\n```text\n(.*?)^```", README.read_text("utf-8"), re.M | re.S
    )
    assert quoted is not None
    assert processes(quoted[1]) == processes((ROOT / "Procfile").read_text("utf-8"))
