"""Email types on disk: find them, say which variables each needs, render them.

``Templates`` is the one API: ``loader`` finds a type's files (the app's folder before the
bundled one), ``variables`` reads what a type needs from the Jinja AST, ``rendering`` says what
a render produces and how it fails.

The call site runs ``check`` on every send, so a type's variables are read from the Jinja AST
once and later checks are a set difference. The worker runs ``render``: a one-line subject,
HTML with its CSS inlined, and text from ``body.txt`` or derived from the rendered HTML, that
work shared by recipients whose emails differ only in plain values (``shared_rendering``),
without a render of each recipient's own HTML where the templates prove it would come out
the same (``substitution``, ``proofs``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, StrictUndefined, nodes
from jinja2.exceptions import TemplateError

from mailer.errors import MissingContext, RenderError, UnknownTemplate
from mailer.settings import Settings
from mailer.templates.fingerprints import fingerprint
from mailer.templates.loader import BUNDLED_DIR, NAME, TypeLoader, valid_name
from mailer.templates.proofs import Proof, proof_of
from mailer.templates.rendering import Rendered, derive_text, format_datetime, map_errors
from mailer.templates.shared_rendering import SharedRendering
from mailer.templates.variables import placeholder, variables_needed

__all__ = ["BUNDLED_DIR", "Rendered", "Templates", "for_settings", "format_datetime"]

# StrictUndefined: a missing variable fails the render rather than sending a blank.
_JINJA_OPTIONS: dict[str, Any] = dict(
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


class _Environment(Environment):
    """Jinja's environment, its templates' globals a plain dict instead of a ``ChainMap``.

    Every render copies its template's globals into the context, and a ``ChainMap`` is read
    key by key in Python: two thirds of the time a subject line took to render. These
    environments' globals are Jinja's own and never change once built, so a template's
    copy of them, made when it loads, is as good as a view."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


class Templates:
    """The email types found in ``directories``, searched in order."""

    def __init__(self, directories: Sequence[Path], *, share_rendering: bool = True) -> None:
        self.directories = tuple(Path(directory) for directory in directories)
        self.share_rendering = share_rendering
        self._loader = TypeLoader(self.directories)
        self._html = _Environment(loader=self._loader, autoescape=True, **_JINJA_OPTIONS)
        self._text = _Environment(loader=self._loader, autoescape=False, **_JINJA_OPTIONS)
        for environment in (self._html, self._text):
            environment.filters["datetime"] = format_datetime
        inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
        # The same HTML inlines to the same HTML: a render repeated for many recipients
        # inlines once.
        self._inline = functools.lru_cache(maxsize=256)(inliner.inline)
        #: The work shared by recipients (``shared_rendering``); ``share_rendering=False``
        #: renders every email in full, as the reference the shared path must equal.
        self.shared = SharedRendering(self._inline, derive_text)
        self._required: dict[str, frozenset[str]] = {}
        self._proofs: dict[str, Proof] = {}

    def names(self) -> list[str]:
        """Every email type in any folder, sorted."""
        found = {f.name for d in self.directories if d.is_dir() for f in d.iterdir()}
        return sorted(name for name in found if self.exists(name))

    def exists(self, name: str) -> bool:
        """Whether ``name`` is an email type; a malformed name is simply not one."""
        valid = isinstance(name, str) and NAME.fullmatch(name) is not None
        return valid and self._loader.owner(name) is not None

    def check(self, name: str, context: Mapping[str, Any]) -> None:
        """Refuse at the call site what would fail in the worker; cheap after the first call."""
        missing = self.required_variables(name).difference(context)
        if missing:
            raise MissingContext(name, sorted(missing))

    def required_variables(self, name: str) -> frozenset[str]:
        """Variables the type reads unguarded, computed once per type and process."""
        required = self._required.get(valid_name(name))
        if required is None:
            required = self._required[name] = self._analyse(name)
        return required

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """Subject, HTML and text; every template failure is a ``RenderError`` (permanent)."""
        self._owner(valid_name(name))
        with map_errors(name):
            subject = self._text.get_template(f"{name}/subject.txt").render(context)
            body = self._html.get_template(f"{name}/body.html")
            own = _once(lambda: body.render(context))
            # Shared by recipients whose values are its only change (``shared_rendering``).
            shared = None
            if self.share_rendering:
                shared = self.shared.share(name, body, context, own, self._proof(name))
            html, text = shared or (self._inline(own()), None)
            if self._loader.has_text(name):
                text = self._text.get_template(f"{name}/body.txt").render(context).strip()
        # split() breaks on every line boundary Python knows, so no CR or LF reaches the header.
        return Rendered(" ".join(subject.split()), html, text or derive_text(html))

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
        path = self._owner(valid_name(name)) / name / "sample.json"
        try:
            sample: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        except ValueError as err:
            raise RenderError(f"template {name!r}: sample.json is not valid JSON: {err}") from err
        for variable in self.required_variables(name) - sample.keys():
            sample[variable] = placeholder(variable)
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

    def fingerprint(self, name: str) -> str:
        """A digest of the sources type ``name`` renders from (its own files and every file
        they extend, include or import), to tell later whether the template changed since
        (``mailer.templates.fingerprints``)."""
        return fingerprint(self.directories, valid_name(name))

    def _proof(self, name: str) -> Proof:
        """What type ``name``'s HTML does with its values, for the templates Jinja now holds
        (``mailer.templates.proofs``): read again whenever one of them was compiled anew."""
        proof = self._proofs.get(name)
        if proof is None or not proof.current():
            proof = self._proofs[name] = proof_of(self._html, f"{name}/body.html")
        return proof

    def _parse_all(self, name: str) -> list[nodes.Template]:
        """The type's own files and, recursively, all they extend, include or import. A file
        Jinja cannot load or parse is left out: the template's defect, not the caller's, which
        ``render`` reports where it runs (the worker dead-letters it)."""
        self._owner(name)  # an unknown type is the caller's mistake: say so
        return [ast for *_, ast in self._loader.files(self._html, name)]


def _once(render: Callable[[], str]) -> Callable[[], str]:
    """``render``, called at most once: the recipient's own HTML, if anything asks for it."""
    done: list[str] = []

    def rendered() -> str:
        if not done:
            done.append(render())
        return done[0]

    return rendered


_instances: dict[tuple[Path, ...], Templates] = {}


def for_settings(settings: Settings) -> Templates:
    """One ``Templates`` per folder list, so every send shares its parsed templates and cache."""
    directories = tuple(d for d in (settings.templates_dir, BUNDLED_DIR) if d is not None)
    templates = _instances.get(directories)
    if templates is None:
        templates = _instances.setdefault(directories, Templates(directories))
    return templates
