"""Email types on disk: find them, say which variables each needs, render them.

A type is a folder holding ``subject.txt`` and ``body.html`` (``body.txt`` optional). Folders
are searched in order, the app's own first and the bundled one last, so an app overrides a
bundled type or adds one by shipping a folder; shared files (``base.html``) resolve in order.

The call site runs ``check`` on every send, so a type's variables are read from the Jinja AST
once and later checks are a set difference. The worker runs ``render``: a one-line subject,
HTML with its CSS inlined (many mail clients drop ``<style>``), and text from ``body.txt`` or
derived from the rendered HTML with its links kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import css_inline
from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2 import Environment, FileSystemLoader, StrictUndefined, meta, nodes
from jinja2.exceptions import TemplateError, TemplateRuntimeError, TemplateSyntaxError

from mailer.errors import InvalidTemplateName, MissingContext, RenderError, UnknownTemplate
from mailer.settings import Settings
from mailer.templates.variables import variables_needed

# A plain folder name: no separators, no dots, so no name can leave the templates folder.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_OWN_FILES = ("subject.txt", "body.html", "body.txt")
# What a template can raise on JSON data. Each would recur on retry, so each is a RenderError.
_RENDER_FAILURES = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError)
# StrictUndefined: a missing variable fails the render rather than sending a blank.
_JINJA_OPTIONS: dict[str, Any] = dict(
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
# A wheel force-includes templates/ in the package as _templates; a checkout has it beside.
_PACKAGE_DIR = Path(__file__).parents[1]
_INSTALLED_DIR = _PACKAGE_DIR / "_templates"
BUNDLED_DIR = _INSTALLED_DIR if _INSTALLED_DIR.is_dir() else _PACKAGE_DIR.parent / "templates"


@dataclass(frozen=True)
class Rendered:
    """What the worker puts in the message: a one-line subject, inlined HTML, plain text."""

    subject: str
    html: str
    text: str


def format_datetime(value: str | datetime, fmt: str | None = None) -> str:
    """The ``datetime`` filter: contexts are JSON, so dates arrive as ISO-8601 strings.

    Without ``fmt``: "Tuesday 1 December 2026, 10:30 UTC", the zone shown only when known.
    """
    if isinstance(value, str):
        try:  # Python 3.10 rejects a trailing Z
            value = datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value.strip()))
        except ValueError:
            raise TemplateRuntimeError(f"datetime: {value!r} is not ISO-8601") from None
    if not isinstance(value, datetime):
        raise TemplateRuntimeError(f"datetime: expected an ISO-8601 string, got {value!r:.60}")
    if fmt is not None:
        return value.strftime(fmt)
    zone = f" {value.tzname()}" if value.tzinfo is not None else ""
    return f"{value:%A} {value.day} {value:%B %Y, %H:%M}{zone}"


class Templates:
    """The email types found in ``directories``, searched in order."""

    def __init__(self, directories: Sequence[Path]) -> None:
        self.directories = tuple(Path(directory) for directory in directories)
        self._loader = _Loader(self.directories)
        self._html = Environment(loader=self._loader, autoescape=True, **_JINJA_OPTIONS)
        self._text = Environment(loader=self._loader, autoescape=False, **_JINJA_OPTIONS)
        for environment in (self._html, self._text):
            environment.filters["datetime"] = format_datetime
        self._inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
        self._required: dict[str, frozenset[str]] = {}

    def names(self) -> list[str]:
        """Every email type in any folder, sorted."""
        found = {f.name for d in self.directories if d.is_dir() for f in d.iterdir()}
        return sorted(name for name in found if self.exists(name))

    def exists(self, name: str) -> bool:
        """Whether ``name`` is an email type; a malformed name is simply not one."""
        valid = isinstance(name, str) and _NAME.fullmatch(name) is not None
        return valid and self._loader.owner(name) is not None

    def check(self, name: str, context: Mapping[str, Any]) -> None:
        """Refuse at the call site what would fail in the worker; cheap after the first call."""
        missing = self.required_variables(name).difference(context)
        if missing:
            raise MissingContext(name, sorted(missing))

    def required_variables(self, name: str) -> frozenset[str]:
        """Variables the type reads unguarded, computed once per type and process."""
        required = self._required.get(_valid(name))
        if required is None:
            required = self._required[name] = self._analyse(name)
        return required

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """Subject, HTML and text; every template failure is a ``RenderError`` (permanent)."""
        owner = self._owner(_valid(name))
        with _map_errors(name):
            subject = self._text.get_template(f"{name}/subject.txt").render(context)
            html = self._html.get_template(f"{name}/body.html").render(context)
            html = self._inliner.inline(html)
            text = None
            if (owner / name / "body.txt").is_file():
                text = self._text.get_template(f"{name}/body.txt").render(context).strip()
        # split() breaks on every line boundary Python knows, so no CR or LF reaches the header.
        return Rendered(" ".join(subject.split()), html, text or _derive_text(html))

    def write_preview(self, name: str, context: Mapping[str, Any], directory: Path) -> list[Path]:
        """Write ``<name>.html`` and ``<name>.txt``, the latter headed ``Subject: ...`` and a
        blank line, the way a mail client shows it."""
        self.check(name, context)
        rendered = self.render(name, context)
        directory.mkdir(parents=True, exist_ok=True)
        html_path, text_path = directory / f"{name}.html", directory / f"{name}.txt"
        html_path.write_text(rendered.html, encoding="utf-8")
        text_path.write_text(f"Subject: {rendered.subject}\n\n{rendered.text}\n", encoding="utf-8")
        return [html_path, text_path]

    def sample_context(self, name: str) -> dict[str, Any]:
        """A context for previews and ``mailer dev``: the type's ``sample.json`` if it ships
        one, plus a placeholder for each required variable the sample lacks."""
        path = self._owner(_valid(name)) / name / "sample.json"
        try:
            sample: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        except ValueError as err:
            raise RenderError(f"template {name!r}: sample.json is not valid JSON: {err}") from err
        for variable in self.required_variables(name) - sample.keys():
            sample[variable] = _placeholder(variable)
        return sample

    def _owner(self, name: str) -> Path:
        owner = self._loader.owner(name)
        if owner is None:
            known = ", ".join(self.names()) or "none"
            raise UnknownTemplate("template", f"no email type {name!r}; known types: {known}")
        return owner

    def _analyse(self, name: str) -> frozenset[str]:
        """Per file: variables it does not set and reads unguarded at least once; less globals."""
        required: set[str] = set()
        for ast in self._parse_all(name):
            try:
                required |= variables_needed(ast)
            except TemplateError:  # e.g. an unknown filter: the template's fault, render says so
                continue
        return frozenset(required - self._html.globals.keys())

    def _parse_all(self, name: str) -> list[nodes.Template]:
        """The type's own files and, recursively, all they extend, include or import. A file
        Jinja cannot load or parse is left out: the template's defect, not the caller's, which
        ``render`` reports where it runs (the worker dead-letters it)."""
        owner = self._owner(name)
        pending = [f"{name}/{file}" for file in _OWN_FILES if (owner / name / file).is_file()]
        seen: set[str] = set()
        asts: list[nodes.Template] = []
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            try:
                source, filename, _ = self._loader.get_source(self._html, current)
                asts.append(self._html.parse(source, current, filename))
            except TemplateError:
                continue
            pending.extend(ref for ref in meta.find_referenced_templates(asts[-1]) if ref)
        return asts


class _Loader(FileSystemLoader):
    """Loads a type's own files from the one folder holding the type, shared ones in order.

    Searching file by file would send an app that overrides ``welcome/body.html`` alone the
    bundled ``welcome/body.txt``: text that no longer matches its HTML.
    """

    def __init__(self, directories: tuple[Path, ...]) -> None:
        super().__init__(list(directories))
        self.directories = directories

    def owner(self, name: str) -> Path | None:
        """The first folder holding type ``name``: its ``subject.txt`` and ``body.html``."""
        for directory in self.directories:
            if all((directory / name / file).is_file() for file in _OWN_FILES[:2]):
                return directory
        return None

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        folder, slash, _ = template.partition("/")
        owner = self.owner(folder) if slash and _NAME.fullmatch(folder) else None
        if owner is None:
            return super().get_source(environment, template)
        return FileSystemLoader(owner).get_source(environment, template)


def _valid(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidTemplateName(
            "template", f"{name!r:.60} is not a plain folder name (letters, digits, _ and -)"
        )
    return name


@contextmanager
def _map_errors(name: str) -> Iterator[None]:
    """Turn what a template raises into ``RenderError`` naming the type and, if known, the line."""
    try:
        yield
    except _RENDER_FAILURES as err:
        where = f" ({err.name}, line {err.lineno})" if isinstance(err, TemplateSyntaxError) else ""
        detail = err.message if isinstance(err, TemplateError) else str(err)
        raise RenderError(f"template {name!r}: {type(err).__name__}: {detail}{where}") from err


def _placeholder(variable: str) -> str:
    """A value of the right shape for a variable named in the usual way."""
    if variable.endswith("_url"):
        return f"https://example.com/{variable.removesuffix('_url')}"
    if variable.endswith("_at"):
        return "2026-12-01T10:30:00+00:00"
    return f"Sample {variable.replace('_', ' ')}"


def _derive_text(html: str) -> str:
    """Plain text from the rendered HTML, links kept as ``[label](url)`` so they stay usable."""
    text = get_text(html, ParserConfig(display_links=True))
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", lines).strip()


_instances: dict[tuple[Path, ...], Templates] = {}


def for_settings(settings: Settings) -> Templates:
    """One ``Templates`` per folder list, so every send shares its parsed templates and cache."""
    directories = tuple(d for d in (settings.templates_dir, BUNDLED_DIR) if d is not None)
    templates = _instances.get(directories)
    if templates is None:
        templates = _instances.setdefault(directories, Templates(directories))
    return templates
