"""Where email types are found: folders searched in order, a type's own files from one folder.

A type is a folder holding ``subject.txt`` and ``body.html`` (``body.txt`` optional). Folders
are searched in order, the app's own first and the bundled one last, so an app overrides a
bundled type or adds one by shipping a folder; shared files (``base.html``) resolve in order.

Which folder holds a type, and whether a file changed since Jinja compiled it, are looked up
on disk at most once a second (``RECHECK_S``): a busy worker renders hundreds of emails a
second, and each ``stat`` hands the interpreter lock to another thread and back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Template, TemplateError, meta, nodes

from mailer.errors import InvalidTemplateName

# A plain folder name: no separators, no dots, so no name can leave the templates folder.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
#: A type's own files; the first two are what make a folder a type.
OWN_FILES = ("subject.txt", "body.html", "body.txt")
# A wheel force-includes templates/ in the package as _templates; a checkout has it beside.
_PACKAGE_DIR = Path(__file__).parents[1]
_INSTALLED_DIR = _PACKAGE_DIR / "_templates"
#: How long what was found on disk is taken as still so.
RECHECK_S = 1.0
BUNDLED_DIR = _INSTALLED_DIR if _INSTALLED_DIR.is_dir() else _PACKAGE_DIR.parent / "templates"


class TypeLoader(FileSystemLoader):
    """Loads a type's own files from the one folder holding the type, shared ones in order.

    Searching file by file would send an app that overrides ``welcome/body.html`` alone the
    bundled ``welcome/body.txt``: text that no longer matches its HTML.
    """

    def __init__(self, directories: tuple[Path, ...]) -> None:
        super().__init__(list(directories))
        self.directories = directories
        self._found: dict[str, tuple[Path, bool, float]] = {}  # owner, has body.txt, when

    def owner(self, name: str) -> Path | None:
        """The first folder holding type ``name``: its ``subject.txt`` and ``body.html``."""
        found = self._find(name)
        return None if found is None else found[0]

    def has_text(self, name: str) -> bool:
        """Whether type ``name`` ships its own ``body.txt``."""
        found = self._find(name)
        return found is not None and found[1]

    def _find(self, name: str) -> tuple[Path, bool, float] | None:
        now = time.monotonic()
        found = self._found.get(name)
        if found is not None and now - found[2] < RECHECK_S:
            return found
        for directory in self.directories:
            if all((directory / name / file).is_file() for file in OWN_FILES[:2]):
                found = (directory, (directory / name / OWN_FILES[2]).is_file(), now)
                self._found[name] = found
                return found
        self._found.pop(name, None)  # not found is looked up again: the caller will say so
        return None

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        folder, slash, _ = template.partition("/")
        owner = self.owner(folder) if slash and NAME.fullmatch(folder) else None
        if owner is None:
            source, filename, uptodate = super().get_source(environment, template)
        else:
            source, filename, uptodate = FileSystemLoader(owner).get_source(environment, template)
        return source, filename, SourceCheck(uptodate, source)

    def files(
        self, environment: Environment, name: str
    ) -> Iterator[tuple[str, str, str, nodes.Template]]:
        """Each file type ``name`` renders from, once, as ``(template, source, filename,
        AST)``: its own files, then every file they extend, include or import, in a stable
        order. A file Jinja cannot load or parse (a missing optional ``body.txt``, a syntax
        error the render will report) is left out."""
        pending, seen = [f"{name}/{file}" for file in OWN_FILES], set()
        while pending:
            template = pending.pop()
            if template in seen:
                continue
            seen.add(template)
            try:
                source, filename, _ = self.get_source(environment, template)
                ast = environment.parse(source, template, filename)
            except TemplateError:
                continue
            yield template, source, filename, ast
            references = meta.find_referenced_templates(ast)
            pending.extend(sorted((ref for ref in references if ref), reverse=True))


class SourceCheck:
    """Jinja's "is the file still as loaded?" for one template, asking the disk only when
    ``RECHECK_S`` has passed since it last said yes. Jinja keeps it with the template it
    compiled, so it also keeps that template's source: what ``source_of`` reads."""

    def __init__(self, uptodate: Callable[[], bool], source: str) -> None:
        self._uptodate, self.source = uptodate, source
        self._checked_at = time.monotonic()

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at < RECHECK_S:
            return True
        if not self._uptodate():
            return False
        self._checked_at = now
        return True


def source_of(template: Template) -> str | None:
    """The source a template this loader loaded was compiled from; None for any other."""
    check = getattr(template, "_uptodate", None)  # Jinja's own attribute for it
    return check.source if isinstance(check, SourceCheck) else None


def valid_name(name: object) -> str:
    """``name`` if it is a plain folder name; ``InvalidTemplateName`` otherwise."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidTemplateName(
            "template", f"{name!r:.60} is not a plain folder name (letters, digits, _ and -)"
        )
    return name
