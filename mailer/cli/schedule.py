"""``mailer schedule list|cancel``: the durable schedule, read and edited without the broker."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from mailer.cli.arguments import positive_int
from mailer.cli.output import REDIS_FAILURES, print_table, redis_failed

if TYPE_CHECKING:
    from mailer.stores.schedules import ScheduledEmail, ScheduleStore

_SCHEDULE_COLUMNS = ("time (UTC)", "key", "template", "to", "message id")


def _schedule_list(args: argparse.Namespace) -> int:
    schedules = _schedule_store()
    try:
        entries = schedules.list(limit=args.limit, prefix=args.prefix)
        total = schedules.count()
    except REDIS_FAILURES as err:
        return redis_failed("could not read the schedule", err)
    if args.json:
        print(json.dumps({"total": total, "schedules": [_entry_json(e) for e in entries]}))
        return 0
    if entries:
        print_table([_SCHEDULE_COLUMNS, *(_entry_row(entry) for entry in entries)])
    print(f"{len(entries)} shown, {total} scheduled in all")
    return 0


def _schedule_cancel(args: argparse.Namespace) -> int:
    try:
        removed = _schedule_store().cancel(args.key)
    except REDIS_FAILURES as err:
        return redis_failed("could not cancel the schedule", err)
    if not removed:
        print(f"mailer: no scheduled email under the key {args.key!r}", file=sys.stderr)
        return 1
    print(f"cancelled {args.key}")
    return 0


def _schedule_store() -> ScheduleStore:
    """The store on the configured Redis; neither the broker nor the templates are needed."""
    from mailer import settings, stores

    return stores.for_settings(settings.current()).schedules


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


def register(commands: Any) -> None:
    schedule = commands.add_parser("schedule", help="list or cancel scheduled emails")
    actions = schedule.add_subparsers(required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="scheduled emails, soonest first")
    listing.add_argument("--prefix", default="", help="only keys starting with this")
    listing.add_argument("--limit", type=positive_int, default=100, help="default: 100")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_schedule_list)

    cancel = actions.add_parser("cancel", help="remove a scheduled email before it is sent")
    cancel.add_argument("key")
    cancel.set_defaults(run=_schedule_cancel)
