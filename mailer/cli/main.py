"""The mailer command line: one subcommand per job."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mailer.cli import (
    bulk,
    dashboard,
    dev,
    dlq,
    events,
    log,
    preview,
    schedule,
    send,
    suppress,
    types,
    web,
)
from mailer.errors import BrokerUnavailable, MailerError

# Ctrl-C before a command installs its own handling (mid-start, or a one-shot command): the
# shell's convention for "stopped by SIGINT", without a traceback.
_INTERRUPTED = 130
# What a shell reports for a command SIGPIPE stopped (128 + 13), as ``yes | head`` shows.
_BROKEN_PIPE = 141
# In the order ``mailer --help`` lists them.
_COMMANDS = (dev, preview, bulk, dashboard, dlq, log, events, schedule, suppress, send, types, web)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()  # here, where a reader that left is caught, not at exit
    except BrokerUnavailable as err:
        print(f"mailer: {err}", file=sys.stderr)
        return 1  # the input was fine: an operational failure
    except MailerError as err:
        print(f"mailer: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _INTERRUPTED
    except BrokenPipeError:
        return _reader_gone()
    return code


def _reader_gone() -> int:
    """The reader of our output left (``mailer log ID | head -4``): stop quietly, as ``cat``
    does. Standard output points at /dev/null from here, so the interpreter's final flush of
    what is still buffered finds no broken pipe to complain about."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return _BROKEN_PIPE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailer", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.register(commands)
    return parser
