"""What a type's HTML does with its context values, for the very templates Jinja renders.

``substitution`` reads it from the templates' syntax; this module ties that reading to the
compiled templates it holds for: each is read from the source Jinja compiled it from (which
the loader keeps beside it), and a ``Proof`` holds for as long as Jinja hands out those same
templates. A file edited while the worker runs is compiled again when Jinja next looks (at
most a second later), and from then on no longer matches any proof made before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jinja2 import Environment, Template, meta, nodes
from jinja2.exceptions import TemplateError

from mailer.templates.loader import source_of
from mailer.templates.substitution import not_printed_as_is

__all__ = ["Proof", "proof_of"]


@dataclass(frozen=True, eq=False)
class Proof:
    """The templates a type's HTML renders from, as Jinja holds them, and the context names
    they use otherwise than by printing them as they are (None: none is proven)."""

    environment: Environment
    templates: tuple[tuple[str, Template], ...]
    not_printed_as_is: frozenset[str] | None

    def covers(self, names: Iterable[str]) -> bool:
        """Whether each of ``names`` is only printed as it is: a marked render with markers
        in their place is then the real render with the markers for values."""
        unproven = self.not_printed_as_is
        return unproven is not None and unproven.isdisjoint(names)

    def current(self) -> bool:
        """Whether Jinja still hands out the very templates this proof was read from."""
        try:
            return all(self.environment.get_template(n) is t for n, t in self.templates)
        except TemplateError:
            return False


def proof_of(environment: Environment, body: str) -> Proof:
    """The proof for the template named ``body`` and every file it extends, includes or
    imports, as ``environment`` holds them now."""
    templates: list[tuple[str, Template]] = []
    asts: list[nodes.Template] = []
    pending, seen = [body], set()
    try:
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            template = environment.get_template(name)
            source = source_of(template)
            if source is None:
                return Proof(environment, (), None)
            templates.append((name, template))
            asts.append(environment.parse(source, name))
            pending.extend(ref for ref in meta.find_referenced_templates(asts[-1]) if ref)
    except TemplateError:  # the render reports it; here it only means: nothing proven
        return Proof(environment, tuple(templates), None)
    return Proof(environment, tuple(templates), not_printed_as_is(asts, environment))
