"""Argument types and parsers the ``mailer`` subcommands share: each refuses bad input with a
message naming the option, so the command exits 2 without a traceback."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timezone
from typing import Any

from mailer.errors import ConfigurationError, InvalidContext


def add_documented(commands: Any, name: str, help: str, doc: str | None) -> Any:
    """A subcommand whose ``--help`` shows its module's docstring as written (reST quotes
    dropped): the commands with several modes explain them there."""
    return commands.add_parser(
        name,
        help=help,
        description=(doc or "").replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def utc_time(text: str) -> datetime:
    """An ISO 8601 time; one without an offset is read as UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an ISO 8601 time, not {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def port_from_env() -> int:
    """``PORT`` is how Heroku and its kind tell a web process where to listen."""
    raw = os.environ.get("PORT", "").strip() or "8000"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigurationError("PORT", f"must be a port number (1-65535), not {raw!r}")
    return int(raw)


def json_object_arg(text: str | None, option: str = "--context") -> dict[str, Any]:
    """A JSON object given on the command line; ``InvalidContext`` naming the option."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidContext(option, f"not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidContext(option, f"must be a JSON object, not {type(value).__name__}")
    return value
