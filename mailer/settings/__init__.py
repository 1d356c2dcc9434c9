"""Settings from the environment, read in one place and checked before any work starts.

A platform like Heroku configures a process only through its environment, so this package is
the one reader of ``os.environ``; ``mailer.env_values`` parses what each variable holds.
``Settings.from_env`` checks everything at once and names the variable at fault; tests build
``Settings(...)`` directly and install it with ``configure``.
"""

from __future__ import annotations

from mailer import addresses
from mailer.settings.model import (
    MIN_SECRET_KEY_CHARS,
    SMTP_SECURITY_MODES,
    UNKNOWN_TOPIC_MODES,
    Settings,
)

__all__ = [
    "MIN_SECRET_KEY_CHARS",
    "SMTP_SECURITY_MODES",
    "UNKNOWN_TOPIC_MODES",
    "Settings",
    "configure",
    "current",
    "installed",
]

_current: Settings | None = None


def current() -> Settings:
    """The process's settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings.from_env()
        addresses.accept_test_domains(_current.test_environment)
    return _current


def installed() -> Settings | None:
    """The settings in force, if any were read or configured yet: what a test puts back."""
    return _current


def configure(settings: Settings | None) -> None:
    """Install settings built in code (tests, ``mailer dev``); ``None`` re-reads the environment."""
    global _current
    _current = settings
    addresses.accept_test_domains(settings is not None and settings.test_environment)
