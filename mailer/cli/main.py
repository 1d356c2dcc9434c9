"""The mailer command line: one subcommand per job."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mailer.cli import bulk, dashboard, dlq, events, log, schedule, suppress
from mailer.cli.common import json_object_arg, port_from_env
from mailer.errors import MailerError

# Ctrl-C before a command installs its own handling (mid-start, or a one-shot command): the
# shell's convention for "stopped by SIGINT", without a traceback.
_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except MailerError as err:
        print(f"mailer: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _INTERRUPTED
    return code


def _dev(args: argparse.Namespace) -> int:
    from mailer.cli.dev import run_dev

    return run_dev(once=args.once, out=sys.stdout)


def _preview(args: argparse.Namespace) -> int:
    from mailer import settings
    from mailer.templates import for_settings

    templates = for_settings(settings.current())
    context = json_object_arg(args.context) if args.context else templates.sample_context(args.type)
    templates.check(args.type, context)
    for path in templates.write_preview(args.type, context, Path(args.out)):
        print(path)
    return 0


def _send(args: argparse.Namespace) -> int:
    import redis

    from mailer.api.email import send_email

    context = json_object_arg(args.context)
    try:
        message_id = send_email(args.type, args.to, context, priority=args.priority)
    except redis.RedisError as err:
        # redis-py names host and port, never the password; the input was fine, so not 2.
        print(f"mailer: could not queue the email: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(message_id)
    return 0


def _types(args: argparse.Namespace) -> int:
    from mailer import settings
    from mailer.actors.emails import EMAIL_TYPES
    from mailer.templates import for_settings

    templates = for_settings(settings.current())
    for name, declared in sorted(EMAIL_TYPES.items()):
        needs = ", ".join(sorted(templates.required_variables(name)))
        print(f"{name:28} {declared.priority.name:9} {needs}")
    return 0


def _web(args: argparse.Namespace) -> int:
    import waitress

    from mailer import settings
    from mailer.web.health import app

    port = args.port if args.port is not None else port_from_env()
    # A misconfigured process fails here, once, not as a 500 on every request.
    settings.current()
    # INFO, so the platform's log shows waitress's "Serving on ..." line.
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    waitress.serve(app, host=args.host, port=port, threads=4)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailer", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    dev = commands.add_parser(
        "dev", help="run Redis (embedded if needed), a worker and sample sends"
    )
    dev.add_argument("--once", action="store_true", help="exit once the samples are delivered")
    dev.set_defaults(run=_dev)

    preview = commands.add_parser("preview", help="render an email type to files without sending")
    preview.add_argument("type")
    preview.add_argument("--context", help="JSON object (default: the type's sample context)")
    preview.add_argument("--out", default="preview", help="folder for the files (default: preview)")
    preview.set_defaults(run=_preview)

    bulk.register(commands)
    dashboard.register(commands)
    dlq.register(commands)
    log.register(commands)
    events.register(commands)
    schedule.register(commands)
    suppress.register(commands)

    send = commands.add_parser("send", help="queue one email")
    send.add_argument("type")
    send.add_argument("--to", action="append", required=True)
    send.add_argument("--context", default="{}", help="JSON object")
    send.add_argument("--priority", choices=("critical", "high", "normal", "low"))
    send.set_defaults(run=_send)

    types = commands.add_parser("types", help="list email types, their priority and context")
    types.set_defaults(run=_types)

    web = commands.add_parser("web", help="serve the web endpoints (health) with waitress")
    web.add_argument("--host", default="0.0.0.0")
    web.add_argument("--port", type=int, help="default: $PORT, else 8000")
    web.set_defaults(run=_web)
    return parser
