"""The checks of a notification's content, before it is stored or queued: a title is one line,
a body is text, a url cannot lead off to another site, a kind is a short name, data is small.

What the user's page shows comes from here, so anything a browser could misread (a control
character, a ``//host`` passing for a path, a backslash) is refused at the call site.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from mailer.argument_checks import check_json_object
from mailer.errors import InvalidNotification

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 2_000
MAX_URL_CHARS = 2_000
#: ``data`` as JSON: room for ids and a few labels, not for documents.
MAX_DATA_CHARS = 8_000
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")
_BODY_CONTROLS = "\t\n\r"  # a form's textarea sends CR LF


def checked_notification(
    title: object, body: object, url: object, kind: object, data: object
) -> dict[str, Any]:
    """The checked notification, JSON-safe, as stored and as queued."""
    return {
        "title": _title(title),
        "body": _body(body),
        "url": _url(url),
        "kind": _kind(kind),
        "data": check_json_object(data, "data", InvalidNotification, max_chars=MAX_DATA_CHARS),
    }


def _title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidNotification("title", "must be a non-empty string")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidNotification("title", f"must be at most {MAX_TITLE_CHARS} characters")
    if not title.isprintable():
        raise InvalidNotification("title", "must be one line of text, without control characters")
    return title


def _body(body: object) -> str:
    if not isinstance(body, str):
        raise InvalidNotification("body", f"expected a string, got {type(body).__name__}")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidNotification("body", f"must be at most {MAX_BODY_CHARS} characters")
    if any(unicodedata.category(c) == "Cc" and c not in _BODY_CONTROLS for c in body):
        raise InvalidNotification("body", "must be text: only tabs and newlines as controls")
    return body


def _url(url: object) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise InvalidNotification("url", f"must be a string of 1 to {MAX_URL_CHARS} characters")
    # Browsers read "\" as "/" and "//host" as another site: neither may pass for a path.
    if "\\" in url or not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidNotification("url", "must be a URL without spaces, backslashes or controls")
    if url.startswith("/") and not url.startswith("//"):
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidNotification("url", "must be an http(s) URL or a path starting with /")
    return url


def _kind(kind: object) -> str:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidNotification(
            "kind", "must be a short name: a letter, then up to 39 letters, digits, _ . -"
        )
    return kind
