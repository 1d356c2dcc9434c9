"""What the ``mailer`` subcommands print: tables for people, times in UTC, and one line, exit
status 1, when Redis fails them."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import redis

from mailer.errors import BrokerUnavailable

#: What a command that reads or writes Redis reports as an operational failure (exit status 1):
#: the public calls raise ``BrokerUnavailable``, the stores redis-py's own errors.
REDIS_FAILURES: tuple[type[Exception], ...] = (redis.RedisError, BrokerUnavailable)


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
    """Exit status 1 with one line: redis-py names host and port, never the password, and
    ``BrokerUnavailable`` masks it in the URL it names."""
    print(f"mailer: {doing}: {type(err).__name__}: {err}", file=sys.stderr)
    return 1
