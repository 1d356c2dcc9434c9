"""What rendering produces and how it fails: the three parts, the ``datetime`` filter, the
text derived from HTML, and every template error turned into one ``RenderError``.

The worker renders: a one-line subject, HTML with its CSS inlined (many mail clients drop
``<style>``), and text from ``body.txt`` or derived from the rendered HTML with its links kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2.exceptions import TemplateError, TemplateRuntimeError, TemplateSyntaxError

from mailer.errors import RenderError

# What a template can raise on JSON data. Each would recur on retry, so each is a RenderError.
_RENDER_FAILURES = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError)


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


@contextmanager
def map_errors(name: str) -> Iterator[None]:
    """Turn what a template raises into ``RenderError`` naming the type and, if known, the line."""
    try:
        yield
    except _RENDER_FAILURES as err:
        where = f" ({err.name}, line {err.lineno})" if isinstance(err, TemplateSyntaxError) else ""
        detail = err.message if isinstance(err, TemplateError) else str(err)
        raise RenderError(f"template {name!r}: {type(err).__name__}: {detail}{where}") from err


#: Renders whose HTML is the very same (a digest, an alert, one news item to many people
#: without a per-recipient link) derive their text once: the same input, the same text.
_SAME_HTML_KEPT = 256


@functools.lru_cache(maxsize=_SAME_HTML_KEPT)
def derive_text(html: str) -> str:
    """Plain text from the rendered HTML, links kept as ``[label](url)`` so they stay usable."""
    text = get_text(html, ParserConfig(display_links=True))
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", lines).strip()
