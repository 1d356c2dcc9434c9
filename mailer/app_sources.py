"""The application's own data, reached through a callable it names in a setting.

Who the admins are, who all the users are, who subscribes to the newsletter: mailer cannot
know, and a worker cannot be handed a Python object by a web request. So a setting names a
callable (``MAILER_USERS_SOURCE=myapp.users:all_user_ids``) that the worker imports and calls
when it needs the answer; it may return any iterable, a generator over a database cursor
included, and mailer reads it lazily, never all at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from mailer.errors import ConfigurationError


def load_source(variable: str, dotted: str | None) -> Callable[[], Iterable[Any]]:
    """The callable ``dotted`` (``package.module:callable``) names; ``variable`` is its setting."""
    if dotted is None:
        raise ConfigurationError(variable, "is not set: name a callable as package.module:name")
    module_name, _, attribute = dotted.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise ConfigurationError(variable, f"cannot import {dotted!r}: {err}") from None
    if not callable(target):
        raise ConfigurationError(variable, f"{dotted!r} is not callable")
    source: Callable[[], Iterable[Any]] = target
    return source
