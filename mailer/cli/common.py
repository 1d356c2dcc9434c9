"""What the ``mailer`` subcommands share: tables for people, clean failures, argument types."""

from __future__ import annotations

import argparse
import json
import os
import sys
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


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Columns as wide as their widest cell, so keys and addresses line up."""
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def format_utc(epoch_s: float) -> str:
    """UTC to the second, as provider logs show it."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def redis_failed(doing: str, err: Exception) -> int:
    """Exit status 1 with one line: redis-py names host and port, never the password."""
    print(f"mailer: {doing}: {type(err).__name__}: {err}", file=sys.stderr)
    return 1


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
