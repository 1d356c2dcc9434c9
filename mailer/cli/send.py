"""``mailer send TYPE --to ADDRESS``: queue one email, as ``send_email`` would, from a shell."""

from __future__ import annotations

import argparse
from typing import Any

from mailer.cli.arguments import json_object_arg
from mailer.cli.output import REDIS_FAILURES, redis_failed


def register(commands: Any) -> None:
    send = commands.add_parser("send", help="queue one email")
    send.add_argument("type")
    send.add_argument("--to", action="append", required=True)
    send.add_argument("--context", default="{}", help="JSON object")
    send.add_argument("--priority", choices=("critical", "high", "normal", "low"))
    send.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mailer.api.email import send_email

    context = json_object_arg(args.context)
    try:
        message_id = send_email(args.type, args.to, context, priority=args.priority)
    except REDIS_FAILURES as err:
        # The input was fine, so not 2: an operational failure.
        return redis_failed("could not queue the email", err)
    print(message_id)
    return 0
