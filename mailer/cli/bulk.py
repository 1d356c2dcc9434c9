"""``mailer bulk TYPE --recipients FILE.csv``: one email type to every row of a CSV file.

The file needs an ``email`` column (any case); every other column is that recipient's own
context, over ``--context``, and an empty cell leaves the shared value. The file is read as it
is queued, never whole. Rows that cannot be sent (a bad address, a missing variable) are
skipped and the first of them listed on stderr; a row whose address came earlier is skipped
and counted apart, so ``queued`` counts people. With ``--key``, running the command again after
a failure half way mails nobody twice.

Exit status: 0 queued (rows may have been skipped: see the counts); 1 Redis could not be
reached; 2 the arguments or the file are wrong.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mailer.cli.arguments import add_documented, json_object_arg
from mailer.cli.output import REDIS_FAILURES, redis_failed
from mailer.errors import ValidationError
from mailer.priorities import LEVELS

_PLAIN_EVERY_S = 5.0  # how often a line is printed when stderr is not a terminal
_BAR_WIDTH = 30


def _bulk(args: argparse.Namespace) -> int:
    from mailer.api.bulk import send_bulk

    context = json_object_arg(args.context)
    progress = _Progress(args.recipients, sys.stderr)
    try:
        with _opened(args.recipients) as handle:
            result = send_bulk(
                args.type,
                _rows(handle, args.recipients),
                context,
                key=args.key,
                priority=args.priority,
                progress=progress,
            )
    except REDIS_FAILURES as err:
        return redis_failed(f"could not queue the bulk send after {progress.done} rows", err)
    finally:
        progress.finish()
    for rejection in result.rejected_samples:
        print(f"mailer: skipped row {rejection.position + 1}: {rejection.reason}", file=sys.stderr)
    print(f"bulk id     {result.bulk_id}")
    print(f"queued      {result.queued}")
    print(f"duplicates  {result.duplicates} skipped")
    print(f"rejected    {result.rejected}")
    return 0


def _opened(path: Path) -> IO[str]:
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" export starts with a byte-order mark.
        return path.open(newline="", encoding="utf-8-sig")
    except OSError as err:
        raise ValidationError("--recipients", f"cannot read {path}: {err.strerror}") from None


def _rows(handle: IO[str], path: Path) -> Iterator[dict[str, str]]:
    """Each row as ``{"email": ..., other non-empty columns...}``, read one at a time."""
    reader = csv.reader(handle)
    try:
        names = [name.strip() for name in next(reader, None) or []]
        column = _email_column(names, path)
        for row in reader:
            own = {n: v for n, v in zip(names, row, strict=False) if v and n != names[column]}
            yield {**own, "email": row[column] if column < len(row) else ""}
    except (csv.Error, UnicodeDecodeError) as err:
        raise ValidationError("--recipients", f"{path}, line {reader.line_num}: {err}") from None


def _email_column(names: list[str], path: Path) -> int:
    lowered = [name.lower() for name in names]
    if "email" not in lowered:
        raise ValidationError("--recipients", f"{path} has no 'email' column in its first line")
    return lowered.index("email")


class _Progress:
    """A bar on a terminal (the rows counted first, a quick pass over the file); elsewhere a
    plain line now and then, so a log shows the send is moving."""

    def __init__(self, path: Path, out: IO[str]) -> None:
        self.out, self.done = out, 0
        self.terminal = out.isatty()
        self.total = _count_rows(path) if self.terminal else None
        self._last = time.monotonic()

    def __call__(self, done: int) -> None:
        self.done = done
        if self.terminal:
            share = done / self.total if self.total else 1.0
            bar = "#" * int(share * _BAR_WIDTH)
            self.out.write(f"\r[{bar:<{_BAR_WIDTH}}] {done:,}/{self.total or done:,} rows")
            self.out.flush()
        elif time.monotonic() - self._last >= _PLAIN_EVERY_S:
            self._last = time.monotonic()
            print(f"mailer: {done:,} rows read", file=self.out, flush=True)

    def finish(self) -> None:
        if self.terminal and self.done:
            self.out.write("\n")


def _count_rows(path: Path) -> int | None:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    except (OSError, csv.Error, UnicodeDecodeError):
        return None  # the real pass reports it


def register(commands: Any) -> None:
    bulk = add_documented(
        commands, "bulk", "queue one email type to every row of a CSV file", __doc__
    )
    bulk.add_argument("type")
    bulk.add_argument(
        "--recipients", type=Path, required=True, metavar="FILE.csv", help="an email column"
    )
    bulk.add_argument("--context", help="JSON object shared by every recipient")
    bulk.add_argument("--key", help="makes a second run after a failure mail nobody twice")
    bulk.add_argument("--priority", choices=tuple(LEVELS), default="low", help="default: low")
    bulk.set_defaults(run=_bulk)
