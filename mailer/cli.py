"""The ``mailer`` command: ``dev``, ``preview``, ``schedule``, ``send``, ``types`` and ``web``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailer.errors import ConfigurationError, InvalidContext, MailerError

if TYPE_CHECKING:
    from mailer.schedules import ScheduledEmail, ScheduleStore

# Ctrl-C before a command installs its own handling (mid-start, or a one-shot command): the
# shell's convention for "stopped by SIGINT", without a traceback.
_INTERRUPTED = 130
_SCHEDULE_COLUMNS = ("time (UTC)", "key", "template", "to", "message id")


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
    from mailer.dev import run_dev

    return run_dev(once=args.once, out=sys.stdout)


def _preview(args: argparse.Namespace) -> int:
    from mailer import settings
    from mailer.templates import for_settings

    templates = for_settings(settings.current())
    context = _json_object(args.context) if args.context else templates.sample_context(args.type)
    templates.check(args.type, context)
    for path in templates.write_preview(args.type, context, Path(args.out)):
        print(path)
    return 0


def _send(args: argparse.Namespace) -> int:
    import redis

    from mailer.api import send_email

    context = _json_object(args.context)
    try:
        message_id = send_email(args.type, args.to, context, priority=args.priority)
    except redis.RedisError as err:
        # redis-py names host and port, never the password; the input was fine, so not 2.
        print(f"mailer: could not queue the email: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(message_id)
    return 0


def _schedule_list(args: argparse.Namespace) -> int:
    import redis

    schedules = _schedule_store()
    try:
        entries = schedules.list(limit=args.limit, prefix=args.prefix)
        total = schedules.count()
    except redis.RedisError as err:
        return _redis_failed("could not read the schedule", err)
    if args.json:
        print(json.dumps({"total": total, "schedules": [_entry_json(e) for e in entries]}))
        return 0
    if entries:
        _print_table([_SCHEDULE_COLUMNS, *(_entry_row(entry) for entry in entries)])
    print(f"{len(entries)} shown, {total} scheduled in all")
    return 0


def _schedule_cancel(args: argparse.Namespace) -> int:
    import redis

    try:
        removed = _schedule_store().cancel(args.key)
    except redis.RedisError as err:
        return _redis_failed("could not cancel the schedule", err)
    if not removed:
        print(f"mailer: no scheduled email under the key {args.key!r}", file=sys.stderr)
        return 1
    print(f"cancelled {args.key}")
    return 0


def _schedule_store() -> ScheduleStore:
    """The store on the configured Redis; neither the broker nor the templates are needed."""
    from mailer import store
    from mailer.schedules import ScheduleStore

    return ScheduleStore(store.client())


def _entry_json(entry: ScheduledEmail) -> dict[str, Any]:
    return {
        "key": entry.key,
        "at": entry.at.isoformat(),
        "template": entry.template,
        "to": entry.to,
        "message_id": entry.message_id,
        "queue_name": entry.queue_name,
    }


def _entry_row(entry: ScheduledEmail) -> tuple[str, ...]:
    at = entry.at.strftime("%Y-%m-%d %H:%M:%SZ")
    return at, entry.key, entry.template, ", ".join(entry.to), entry.message_id


def _print_table(rows: list[tuple[str, ...]]) -> None:
    """Columns as wide as their widest cell, so keys and addresses line up."""
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def _redis_failed(doing: str, err: Exception) -> int:
    # redis-py names host and port, never the password; the input was fine, so not 2.
    print(f"mailer: {doing}: {type(err).__name__}: {err}", file=sys.stderr)
    return 1


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

    port = args.port if args.port is not None else _port_from_env()
    # A misconfigured process fails here, once, not as a 500 on every request.
    settings.current()
    # INFO, so the platform's log shows waitress's "Serving on ..." line.
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    waitress.serve(app, host=args.host, port=port, threads=4)
    return 0


def _port_from_env() -> int:
    """``PORT`` is how Heroku and its kind tell a web process where to listen."""
    raw = os.environ.get("PORT", "").strip() or "8000"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigurationError("PORT", f"must be a port number (1-65535), not {raw!r}")
    return int(raw)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidContext("--context", f"not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidContext("--context", f"must be a JSON object, not {type(value).__name__}")
    return value


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

    _add_schedule_parser(commands)

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


def _add_schedule_parser(commands: Any) -> None:
    schedule = commands.add_parser("schedule", help="list or cancel scheduled emails")
    actions = schedule.add_subparsers(required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="scheduled emails, soonest first")
    listing.add_argument("--prefix", default="", help="only keys starting with this")
    listing.add_argument("--limit", type=_positive_int, default=100, help="default: 100")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_schedule_list)

    cancel = actions.add_parser("cancel", help="remove a scheduled email before it is sent")
    cancel.add_argument("key")
    cancel.set_defaults(run=_schedule_cancel)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
