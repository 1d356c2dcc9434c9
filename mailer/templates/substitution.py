"""Context values a type's HTML only ever prints as they are, proven from its templates' syntax.

``shared_rendering`` makes a recipient's HTML from the shared marked render, markers replaced
by the recipient's values, and checks it against the recipient's own render: a template may
branch on a value, filter it or measure it, and then the marked render is no model of the
real one. That check costs a second Jinja render per email. Where the templates' syntax shows
that a value cannot change anything but the text printed in its place, the check cannot fail,
and the own render is not needed.

A value is printed as it is where every read of its name is one of:

- a whole output, ``{{ value }}``, or ``{{ value | default(...) }}`` (the value is there, so
  the default is never used);
- the subject of ``is defined`` or ``is undefined``: it is there in both renders;
- an argument of a macro call that is a whole output itself (``{{ button(value, "Go") }}``),
  passed to a parameter that the macro, by the first two rules, only prints as it is;

never under ``{% filter %}``, ``{% autoescape %}``, ``{% set %}...{% endset %}`` or a
``{% call %}`` body (each changes or captures what is printed), never inside a macro's body
(a macro's output may be used anywhere), and never bound by the templates themselves (a
``set``, ``for`` or ``with`` target, or a macro parameter, of the same name).

And the templates must print the same for the same context on every render: every call is to
one of their own macros (directly, not through ``caller``, ``*args`` or ``**kwargs``, and
never set to something else), ``super()`` or a block (``self.title()``); no ``random``
filter; no filter or test that is handed the render's context (Jinja's ``map``, ``select``
and the like, which call another by name, included); every file they extend, include
or import is named by a constant. Anything else, and no value of the type is proven.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jinja2 import nodes

__all__ = ["not_printed_as_is"]

_DEFAULT = frozenset({"default", "d"})
_PRESENCE = frozenset({"defined", "undefined"})
#: Nodes whose body's output is changed or captured before it is printed.
_REWRITING = (nodes.FilterBlock, nodes.EvalContextModifier, nodes.AssignBlock, nodes.CallBlock)
_PLAIN_CALLS = frozenset({"super"})
_MACRO_EXTRAS = frozenset({"caller", "varargs", "kwargs"})

Chain = tuple[nodes.Node, ...]  # a node's ancestors, the template first
#: Each macro's parameters printed as they are, by position and by name.
Macros = Mapping[str, frozenset[str | int]]


def not_printed_as_is(asts: Sequence[nodes.Template], environment: Any) -> frozenset[str] | None:
    """The names that the files in ``asts`` (a type's HTML and all it extends, includes or
    imports) read otherwise than by printing them as they are; any other name, read or not,
    is only ever printed as it is. None when a render may print differently from another of
    the same context: then nothing is proven. ``environment``: the one the files render in."""
    macros = _macros(asts)
    if not _same_every_render(asts, macros, environment):
        return None
    read = {n.name for ast in asts for n in ast.find_all(nodes.Name) if n.ctx == "load"}
    bound = set().union(*(_bound(ast) for ast in asts))
    return frozenset(
        name
        for name in read
        if name in bound
        or not all(_only_printed(chain, r, macros) for chain, r in _reads(asts, name))
    )


def _reads(asts: Sequence[nodes.Template], name: str) -> Iterator[tuple[Chain, nodes.Name]]:
    """Every read of ``name``, with its ancestors."""
    for ast in asts:
        yield from _reads_below(ast, name, (ast,))


def _reads_below(node: nodes.Node, name: str, chain: Chain) -> Iterator[tuple[Chain, nodes.Name]]:
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Name) and child.name == name and child.ctx == "load":
            yield chain, child
        else:
            yield from _reads_below(child, name, (*chain, child))


def _only_printed(chain: Chain, read: nodes.Name, macros: Macros) -> bool:
    """``read`` (below ``chain``) tests presence, or is printed as it is (``_printed``)."""
    if not chain:  # a macro's default: read outside its body
        return False
    parent = chain[-1]
    if isinstance(parent, nodes.Test) and parent.node is read:
        return parent.name in _PRESENCE
    if any(isinstance(node, (*_REWRITING, nodes.Macro)) for node in chain):
        return False
    return _printed(chain, read, macros)


def _printed(chain: Chain, read: nodes.Node, macros: Macros) -> bool:
    """``read`` is printed whole, defaulted, or passed to a macro parameter that is."""
    parent, above = chain[-1], chain[-2] if len(chain) > 1 else None
    if isinstance(parent, nodes.Output):
        return any(node is read for node in parent.nodes)
    if isinstance(parent, nodes.Filter) and parent.node is read and parent.name in _DEFAULT:
        return isinstance(above, nodes.Output) and any(node is parent for node in above.nodes)
    call, parameter = _call_of(chain, read)
    if call is None or not isinstance(call.node, nodes.Name) or call.dyn_args or call.dyn_kwargs:
        return False
    at = next(i for i, node in enumerate(chain) if node is call)
    output = chain[at - 1] if at else None
    whole = isinstance(output, nodes.Output) and any(node is call for node in output.nodes)
    return whole and parameter in macros.get(call.node.name, frozenset())


def _call_of(chain: Chain, read: nodes.Node) -> tuple[nodes.Call | None, str | int | None]:
    """The call ``read`` is an argument of, and which: a position or a keyword's name."""
    parent = chain[-1]
    if isinstance(parent, nodes.Call):
        position = next((i for i, arg in enumerate(parent.args) if arg is read), None)
        return (parent, position) if position is not None else (None, None)
    if isinstance(parent, nodes.Keyword) and len(chain) > 1 and isinstance(chain[-2], nodes.Call):
        return chain[-2], parent.key
    return None, None


def _macros(asts: Sequence[nodes.Template]) -> dict[str, frozenset[str | int]]:
    """Each macro name (as defined or imported under) and the parameters it only prints as
    they are, by position and by name; a name defined twice keeps what both agree on."""
    defined: dict[str, frozenset[str | int]] = {}
    for ast in asts:
        for macro in ast.find_all(nodes.Macro):
            safe = _printed_parameters(macro)
            defined[macro.name] = defined[macro.name] & safe if macro.name in defined else safe
    macros = dict(defined)
    for ast in asts:
        for imported in ast.find_all(nodes.FromImport):
            for name in imported.names:
                original, alias = (name, name) if isinstance(name, str) else name
                macros[alias] = defined.get(original, frozenset())
    return macros


def _printed_parameters(macro: nodes.Macro) -> frozenset[str | int]:
    """A macro's parameters whose every read in its body is printed whole or defaulted."""
    reads = {n.name for n in macro.find_all(nodes.Name) if n.ctx == "load"}
    stored = {n.name for n in macro.find_all(nodes.Name) if n.ctx == "store"}
    if reads & _MACRO_EXTRAS or macro.find(nodes.Macro) or macro.find(nodes.CallBlock):
        return frozenset()
    safe: set[str | int] = set()
    for position, parameter in enumerate(macro.args):
        name = parameter.name
        if name in stored:
            continue
        chains = list(_reads_below(macro, name, (macro,)))
        # Read below the macro itself: no macro calls from a macro, kept simple.
        if all(_only_printed(chain[1:], read, {}) for chain, read in chains):
            safe.update((position, name))
    return frozenset(safe)


def _bound(ast: nodes.Template) -> set[str]:
    """Names the file binds itself: assignment, loop and ``with`` targets, macro parameters."""
    stored = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for macro in ast.find_all(nodes.Macro):
        stored.update(parameter.name for parameter in macro.args)
    return stored


def _same_every_render(asts: Sequence[nodes.Template], macros: Macros, environment: Any) -> bool:
    """Whether the files print the same for the same context every time (see above)."""
    if getattr(environment, "finalize", None) is not None:
        return False
    rebound = {n.name for ast in asts for n in ast.find_all(nodes.Name) if n.ctx == "store"}
    if rebound & macros.keys():  # a macro's name set to something else: who knows what
        return False
    for ast in asts:
        if not all(_plain_call(call, macros) for call in ast.find_all(nodes.Call)):
            return False
        for node in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            if not isinstance(getattr(node, "template", None), nodes.Const):
                return False
        filters = [f.name for f in ast.find_all(nodes.Filter)]  # a {% filter %}'s too
        if "random" in filters or not all(_pure(name, environment.filters) for name in filters):
            return False
        tests = [t.name for t in ast.find_all(nodes.Test)]
        if not all(_pure(name, environment.tests) for name in tests):
            return False
    return True


def _plain_call(call: nodes.Call, macros: Macros) -> bool:
    """A call to one of the files' macros, ``super()``, or a block (``self.name()``)."""
    target = call.node
    if isinstance(target, nodes.Name):
        return target.name in macros or target.name in _PLAIN_CALLS
    return isinstance(target, nodes.Getattr) and getattr(target.node, "name", None) == "self"


def _pure(name: str, registered: Mapping[str, Any]) -> bool:
    """A filter or test not handed the render's context: none of Jinja's own but those that
    call another by name (``map('random')``), and an unknown one fails the render anyway."""
    passed = getattr(registered.get(name), "jinja_pass_arg", None)
    return getattr(passed, "name", None) != "context"
