"""CSS inlining and text derivation done once for every recipient whose email cannot differ
from another's but by the plain text of its context values.

A welcome email to Ann and one to Bob differ in the name alone, yet each was inlined and
turned into text in full: text derivation was a quarter of a worker's CPU. So the HTML is
rendered a second time with each plain string value replaced by a marker of the same length
(one private-use character, repeated), and that marked HTML is the cache key. Its inlined form
and its text are computed once; a recipient's own are the cached ones with the markers
replaced by the values. The result is exactly what inlining and deriving the recipient's own
HTML gives, because each of these is checked, and anything else takes the full path:

- The value is plain: printable, no leading, trailing or doubled spaces, and none of
  ``& < > " '``. HTML-escaping leaves it as it is, the HTML parsers read it as characters,
  whitespace collapsing leaves it alone, and the serialiser writes it back unchanged: exactly
  as they treat its marker.
- The marked render, markers replaced by the values, is the recipient's HTML character for
  character. A template that branches on a value, filters it or measures it fails this. The
  recipient's own render, made to check it, is skipped where the templates' syntax proves
  the check cannot fail: each marked value is only ever printed as it is, and the templates
  print the same for the same context every time (``mailer.templates.substitution``), for
  the very templates Jinja renders (``mailer.templates.proofs``). A marked render kept under
  such a proof is kept under the proof itself, so an edited template is never answered with
  a render of the old one.
- Every marker is text in an element's body, in ``<style>``, ``<script>``, ``<pre>`` or a
  comment never: CSS selectors do not see text, so the same styles are inlined. The one
  attribute allowed is a link's ``href``, and only in a document whose stylesheets have no
  attribute selector (like ``a[href^="mailto:"]``): inscriptis writes the target as it is,
  and nothing else reads it.
- The marker has the value's length. inscriptis lays table columns and alignment out by the
  length of each line, so the same lengths give the same layout, character for character.

A value found anywhere else (an image's ``src``, say) is not marked again for its type: it
stays in the marked form as it is, so recipients share the work only when it is the same for
them. A type whose renders rarely repeat a marked form stops trying after ``TRIAL`` renders
that found the cache less than ``MIN_HIT_RATE`` of the time.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import lxml.html
from jinja2 import Template
from lxml import etree

from mailer.templates.proofs import Proof

#: The first marker character: a private-use code point, which no plain value contains.
_FIRST_MARKER = 0xE000
#: Most values marked in one render (one private-use character each).
MAX_VALUES = 256
#: Marked forms kept, across types.
KEPT = 256
#: Renders a type gets before its hit rate is judged, and the rate it must reach.
TRIAL, MIN_HIT_RATE = 256, 0.2
_NOT_PLAIN = re.compile(r"[&<>\"']|  ")
#: Elements whose text is not parsed, laid out or written back as ordinary text.
_UNMARKABLE_PARENTS = frozenset(
    {"style", "script", "textarea", "pre", "xmp", "iframe", "noembed", "noframes", "noscript"}
)

Inlined = tuple[str, str]  # the inlined HTML and its text, markers in place of the values
_UNSAFE = ("", "")  # a marked form whose markers are not all in plain text
_SCALARS = frozenset({str, int, float, bool, type(None)})


class SharedRendering:
    """The cache of marked forms, and each type's tally of how often it was of use."""

    def __init__(self, inline: Callable[[str], str], derive_text: Callable[[str], str]) -> None:
        self._inline, self._derive_text = inline, derive_text
        self._kept: OrderedDict[tuple[str, str], Inlined] = OrderedDict()
        self._renders: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._tally: dict[str, list[int]] = {}  # type -> [renders tried, cache hits]
        self._literal: dict[str, set[str]] = {}  # type -> context keys found outside text
        self._lock = threading.Lock()

    def tally(self, name: str) -> tuple[int, int]:
        """Type ``name``'s renders that tried to share the work, and those that found it done."""
        tried, found = self._tally.get(name, (0, 0))
        return tried, found

    def share(
        self,
        name: str,
        template: Template,
        context: Mapping[str, Any],
        own: Callable[[], str],
        proof: Proof | None = None,
    ) -> tuple[str, str] | None:
        """Type ``name``'s HTML for ``context``, inlined, and its text; None when the work
        cannot be shared, for the caller to do in full. ``own()`` renders the recipient's HTML:
        the marked render is checked against it, unless ``proof`` shows the check cannot fail
        (``mailer.templates.substitution``), and then it is not called."""
        tally = self._tally.setdefault(name, [0, 0])
        if tally[0] >= TRIAL and tally[1] < MIN_HIT_RATE * tally[0]:
            return None
        literal = self._literal.setdefault(name, set())
        markers = _markers(context, literal)
        if not markers:
            return None
        tally[0] += 1  # a try: the marked render below may fail, or differ, or be cached
        marked_context = {**context, **{k: m for k, (m, _) in markers.items()}}
        # Current as of the caller's look (``Templates._proof``); checked again after a render.
        proven = proof if proof is not None and proof.covers(markers) else None
        key = _frozen(proven or template, marked_context)
        try:
            marked = self._marked(template, marked_context, key, proven)
        except Exception:  # a filter or test that takes no marker: the full path decides
            return None
        if marked is None:  # the templates changed under the proof: the full path decides
            return None
        if not proven and _unmarked(marked, markers) != own():
            if key is not None:  # kept from a render that no longer comes out the same
                with self._lock:
                    self._renders.pop(key, None)
            return None
        found = self._inlined_once(name, marked, markers, tally)
        if found is _UNSAFE:
            return None
        return _unmarked(found[0], markers), _unmarked(found[1], markers)

    def _inlined_once(
        self, name: str, marked: str, markers: Mapping[str, tuple[str, str]], tally: list[int]
    ) -> Inlined:
        """The marked HTML's inlined form and text, from the cache, or made and kept."""
        with self._lock:
            found = self._kept.get((name, marked))
            if found is not None:
                self._kept.move_to_end((name, marked))
                tally[1] += 1
                return found
        found = self._inlined(marked, markers, self._literal[name])
        with self._lock:
            self._kept[(name, marked)] = found
            if len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        return found

    def _marked(
        self, template: Template, context: dict[str, Any], key: Any, proof: Proof | None
    ) -> str | None:
        """The marked render, kept for a marked context seen before (``key``): recipients
        whose values have the same lengths have the same marked context. Without ``proof``
        it is checked against this recipient's own render in ``share`` before anything is
        used. With one, it is kept under that proof (``key``), and only if the templates are
        still the proof's once it is made: else None."""
        if key is None:
            return template.render(context)
        with self._lock:
            marked = self._renders.get(key)
            if marked is not None:
                self._renders.move_to_end(key)
                return marked
        marked = template.render(context)
        if proof is not None and not proof.current():  # edited meanwhile: which did it use?
            return None
        with self._lock:
            self._renders[key] = marked
            if len(self._renders) > KEPT:
                self._renders.popitem(last=False)
        return marked

    def _inlined(
        self, marked: str, markers: Mapping[str, tuple[str, str]], literal: set[str]
    ) -> Inlined:
        """The marked HTML inlined and its text, if every marker is plain text throughout;
        a value found elsewhere joins the type's ``literal`` keys, never marked again."""
        characters = [m[0] for m, _ in markers.values()]
        misplaced = _outside_text(marked, characters)
        if misplaced:
            literal.update(k for k, (m, _) in markers.items() if m[0] in misplaced)
            return _UNSAFE
        inlined = self._inline(marked)
        text = self._derive_text(inlined)
        for character in characters:  # every marker kept whole by both: else not shared
            if inlined.count(character) != marked.count(character):
                return _UNSAFE
        return inlined, text


def _markers(context: Mapping[str, Any], literal: set[str]) -> dict[str, tuple[str, str]]:
    """Each plain string value's marker and the value, by context key; not ``literal`` ones."""
    markers: dict[str, tuple[str, str]] = {}
    for key, value in context.items():
        if len(markers) == MAX_VALUES:
            break
        if isinstance(value, str) and key not in literal and _plain(value):
            markers[key] = (chr(_FIRST_MARKER + len(markers)) * len(value), value)
    return markers


def _frozen(templates: Template | Proof, context: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A key for a context of plain scalars, each with its type (``1`` renders unlike
    ``True``); None for any other. The template object itself, or the proof naming every
    template the render uses: an edited one is new."""
    if not all(type(value) in _SCALARS for value in context.values()):
        return None
    return templates, frozenset((k, type(v), v) for k, v in context.items())


def _plain(value: str) -> bool:
    return (
        bool(value)
        and value.isprintable()
        and value == value.strip()
        and not (_NOT_PLAIN.search(value))
    )


def _unmarked(marked: str, markers: Mapping[str, tuple[str, str]]) -> str:
    for marker, value in markers.values():
        marked = marked.replace(marker, value)
    return marked


def _outside_text(html: str, characters: list[str]) -> set[str]:
    """The marker characters found in ``html`` anywhere but the text of an ordinary element
    or, where no stylesheet has an attribute selector, a link's target."""
    root = lxml.html.document_fromstring(html)
    found, misplaced = dict.fromkeys(characters, 0), set[str]()
    links_plain = not any("[" in (style.text or "") for style in root.iter("style"))
    for element in root.iter():
        if not isinstance(element.tag, str):  # a comment or processing instruction
            misplaced.update(c for c in characters if c in (element.text or ""))
            continue
        for attribute, value in element.attrib.items():
            if links_plain and attribute == "href" and element.tag == "a":
                for character in characters:
                    found[character] += value.count(character)
                continue
            misplaced.update(c for c in characters if c in value)
        for text, owner in ((element.text, element), (element.tail, element.getparent())):
            for character in characters:
                count = text.count(character) if text else 0
                if count and (owner is None or _unmarkable(owner)):
                    misplaced.add(character)
                found[character] += count
    # Anything lxml did not show as text (a doctype, say) is misplaced too.
    return misplaced | {c for c in characters if found[c] != html.count(c)}


def _unmarkable(element: etree._Element) -> bool:
    return element.tag in _UNMARKABLE_PARENTS or any(
        ancestor.tag in _UNMARKABLE_PARENTS for ancestor in element.iterancestors()
    )
