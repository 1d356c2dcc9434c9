"""A fingerprint of an email type's template files, to tell whether it changed since a send.

The fingerprint hashes the sources of the type's own files and of every file they extend,
include or import, found by following Jinja's references. The worker takes one per render
(``Templates.fingerprint``, kept with the attempt in the delivery log); it is computed again only
when one of those files' modification time has changed, and those times are looked at no more
than once a second per type, so a busy worker does not pay a few ``stat`` calls per email.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from jinja2 import Environment

from mailer.templates import loader as type_loader
from mailer.templates.loader import TypeLoader

_cache: dict[tuple[tuple[Path, ...], str], tuple[dict[str, int], str, float]] = {}
_lock = threading.Lock()


def fingerprint(directories: tuple[Path, ...], name: str) -> str:
    """A digest of the files type ``name`` renders from, in ``directories``' order: 16 hex
    digits, enough to tell a change and short enough to keep with every attempt."""
    key, now = (directories, name), time.monotonic()
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        files, digest, checked_at = cached
        if now - checked_at < type_loader.RECHECK_S:
            return digest
        if _mtimes(files) == files:
            with _lock:
                _cache[key] = (files, digest, now)
            return digest
    files, digest = _compute(directories, name)
    with _lock:
        _cache[key] = (files, digest, now)
    return digest


def _compute(directories: tuple[Path, ...], name: str) -> tuple[dict[str, int], str]:
    loader = TypeLoader(directories)
    files, sha = {}, hashlib.sha256()
    for template, source, filename, _ in loader.files(Environment(loader=loader), name):
        files[filename] = Path(filename).stat().st_mtime_ns
        sha.update(f"{template}\0{source}\0".encode())
    return files, sha.hexdigest()[:16]


def _mtimes(files: dict[str, int]) -> dict[str, int]:
    found = {}
    for filename in files:
        try:
            found[filename] = Path(filename).stat().st_mtime_ns
        except OSError:
            found[filename] = -1
    return found
