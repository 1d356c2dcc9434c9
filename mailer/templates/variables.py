"""Which variables a parsed template cannot render without.

Jinja's ``meta.find_undeclared_variables`` lists every free name, including ones a template
only reads under a guard (``x | default(...)``, ``x is defined``) and ones a child template
imports above its blocks. Calling those required would refuse valid sends, so this module
narrows the list to names read unguarded at least once. Previews fill each needed variable a
sample lacks with a ``placeholder``.
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import meta, nodes


def variables_needed(ast: nodes.Template) -> set[str]:
    """Names ``ast`` reads unguarded and does not bind itself; may raise Jinja's TemplateError."""
    undeclared = meta.find_undeclared_variables(ast) - _bound_outside_blocks(ast)
    return undeclared & set(_unguarded(ast, frozenset()))


def _unguarded(node: nodes.Node, safe: frozenset[str]) -> Iterator[str]:
    """Variables read where being undefined would fail the render.

    Guarded reads: ``x | default(...)``, ``x is defined``/``undefined``, and any read inside an
    ``if`` (statement or expression) whose test is one of those on x. Branch polarity is not
    tracked: reading x where the test says it is undefined is a bug of its own.
    """
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name not in safe:
            yield node.name
        return
    if isinstance(node, (nodes.If, nodes.CondExpr)):
        tests = [node.test, *node.test.find_all(nodes.Test)]
        safe = safe.union(filter(None, map(_guarded, tests)))
    for child in node.iter_child_nodes(exclude=("node",) if _guarded(node) else ()):
        yield from _unguarded(child, safe)


def _bound_outside_blocks(ast: nodes.Template) -> set[str]:
    """Names a child template binds outside its blocks: its blocks see them, but ``meta``
    counts them undeclared (``{% from "macros.html" import button %}`` above the blocks)."""
    bound: set[str] = set()
    for node in ast.body:
        if isinstance(node, nodes.FromImport):
            bound.update(name if isinstance(name, str) else name[1] for name in node.names)
        elif isinstance(node, nodes.Import):
            bound.add(node.target)
        elif isinstance(node, (nodes.Assign, nodes.AssignBlock)):
            bound.update(name.name for name in node.find_all(nodes.Name) if name.ctx == "store")
    return bound


def _guarded(node: nodes.Node) -> str | None:
    """The variable ``node`` reads in a way that tolerates it being undefined, if any."""
    if isinstance(node, nodes.Filter):
        guard = node.name in ("default", "d")
    elif isinstance(node, nodes.Test):
        guard = node.name in ("defined", "undefined")
    else:
        return None
    return node.node.name if guard and isinstance(node.node, nodes.Name) else None


def placeholder(variable: str) -> str:
    """A sample value of the right shape for a variable named in the usual way."""
    if variable.endswith("_url"):
        return f"https://example.com/{variable.removesuffix('_url')}"
    if variable.endswith("_at"):
        return "2026-12-01T10:30:00+00:00"
    return f"Sample {variable.replace('_', ' ')}"
