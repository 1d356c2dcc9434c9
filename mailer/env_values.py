"""Typed values read from an environment mapping, each error naming its variable.

``mailer.settings`` is the one module that reads ``os.environ``: it hands the mapping to
``EnvValues``, which parses what a variable holds (numbers, choices, lists, URLs, addresses)
and raises ``ConfigurationError`` naming the variable at fault. It never looks the
environment up itself, so a test hands it a plain dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from mailer.addresses import parse_address
from mailer.errors import ConfigurationError, ValidationError


class EnvValues:
    """Typed reads of one environment mapping; every error names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise ConfigurationError(name, f"must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(name, f"must be a whole number, not {raw!r}") from None
        if value < low or (high is not None and value > high):
            raise ConfigurationError(name, _out_of_range(value, low, high))
        return value

    def flag(self, name: str) -> bool:
        """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``; unset is false."""
        raw = (self.optional(name) or "false").lower()
        if raw not in _TRUE + _FALSE:
            raise ConfigurationError(name, f"must be true or false (1 or 0), not {raw!r}")
        return raw in _TRUE

    def optional_integer(self, name: str, *, low: int) -> int | None:
        """A whole number of at least ``low``, or None when unset (no limit, say)."""
        if self.optional(name) is None:
            return None
        try:
            return self.integer(name, 0, low=low)
        except ConfigurationError as err:
            raise ConfigurationError(name, f"{err.problem}; leave it unset for none") from None

    def per_backend(self, name: str) -> dict[str, int]:
        """``ses=14,sendgrid=100``: a whole number per backend name."""
        limits: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in self.text(name, "").split(","))):
            backend, equals, raw = item.partition("=")
            value = EnvValues({name: raw}).integer(name, 0, low=1) if equals else 0
            if not backend.strip() or not value:
                raise ConfigurationError(name, f"expected backend=number pairs, got {item!r}")
            limits[backend.strip().lower()] = value
        return limits

    def addresses(self, name: str, *, test_domains: bool = False) -> tuple[str, ...]:
        raw = [part.strip() for part in self.text(name, "").split(",")]
        try:
            return tuple(
                parse_address(address, name, test_domains=test_domains)
                for address in raw
                if address
            )
        except ValidationError as err:
            raise ConfigurationError(name, err.problem) from None

    def names(self, name: str) -> tuple[str, ...]:
        """A comma-separated list, blanks dropped: ``a, b,`` is ``("a", "b")``."""
        return tuple(part.strip() for part in self.text(name, "").split(",") if part.strip())

    def url(self, name: str) -> str | None:
        """An http(s) base URL, without its trailing slash."""
        raw = self.optional(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(name, f"must be an http:// or https:// URL, not {raw!r}")
        return raw.rstrip("/")

    def source(self, name: str) -> str | None:
        """``package.module:callable``, imported where it is used (the worker, the web app)."""
        raw = self.optional(name)
        if raw is None:
            return None
        module, colon, attribute = raw.partition(":")
        if not colon or not _is_dotted(module) or not _is_dotted(attribute):
            raise ConfigurationError(name, f"expected package.module:callable, got {raw!r}")
        return raw

    def number(self, name: str, default: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigurationError(name, f"must be a number, not {raw!r}") from None

    def directory(self, name: str) -> Path | None:
        raw = self.optional(name)
        if raw is None:
            return None
        path = Path(raw)
        if not path.is_dir():
            raise ConfigurationError(name, f"{raw!r} is not a directory")
        return path


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _out_of_range(value: int, low: int, high: int | None) -> str:
    """What to set instead, worded for the bound that was crossed."""
    if high is None:
        return f"must be a whole number of at least {low}, not {value}"
    return f"must be a whole number from {low} to {high}, not {value}"


def _is_dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))
