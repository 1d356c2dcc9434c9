"""The mailer command line: one subcommand per job."""

from __future__ import annotations

import argparse
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
# In the order ``mailer --help`` lists them.
_COMMANDS = (dev, preview, bulk, dashboard, dlq, log, events, schedule, suppress, send, types, web)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except BrokerUnavailable as err:
        print(f"mailer: {err}", file=sys.stderr)
        return 1  # the input was fine: an operational failure
    except MailerError as err:
        print(f"mailer: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _INTERRUPTED
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailer", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.register(commands)
    return parser
