"""Backends by name. Adding one is one module here plus one line in ``REGISTRY``.

Modules are imported only when selected, so an app that sends through SES never imports the
SendGrid SDK, and a missing optional package is reported for the backend that needs it.
"""

from __future__ import annotations

import importlib

from mailer.backends.base import Backend
from mailer.errors import ConfigurationError
from mailer.settings import Settings

__all__ = ["REGISTRY", "Backend", "backend_class", "create_backend"]

REGISTRY: dict[str, str] = {
    "smtp": "mailer.backends.smtp:SMTPBackend",
    "ses": "mailer.backends.ses:SESBackend",
    "sendgrid": "mailer.backends.sendgrid:SendGridBackend",
    "console": "mailer.backends.console:ConsoleBackend",
    "file": "mailer.backends.file:FileBackend",
    "memory": "mailer.backends.memory:MemoryBackend",
}


def backend_class(name: str, variable: str = "MAILER_BACKEND") -> type[Backend]:
    """The class registered as ``name``; errors name ``variable``, the setting that chose it."""
    try:
        module_name, _, class_name = REGISTRY[name].partition(":")
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ConfigurationError(variable, f"unknown backend {name!r}; known: {known}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ConfigurationError(
            variable, f"backend {name!r} needs the package {err.name!r}; install it"
        ) from err
    cls: type[Backend] = getattr(module, class_name)
    return cls


def create_backend(settings: Settings, name: str | None = None) -> Backend:
    cls = backend_class(name or settings.backend)
    cls.check_settings(settings)
    return cls(settings)
