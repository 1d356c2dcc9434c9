"""``mailer log``: what happened to an email, from the delivery log, in two keystrokes.

``mailer log --to ann@example.com`` lists her emails newest first with their status and last
error; ``mailer log MESSAGE_ID`` shows one with every attempt; ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mailer.cli.arguments import positive_int
from mailer.cli.output import REDIS_FAILURES, format_utc, print_table, redis_failed

if TYPE_CHECKING:
    from mailer.stores.delivery_log import Delivery

_COLUMNS = ("queued at (UTC)", "status", "template", "to", "tries", "last error", "message id")


def register(commands: Any) -> None:
    log = commands.add_parser("log", help="what happened to emails: the delivery log")
    log.add_argument("message_id", nargs="?", help="show this message with every attempt")
    log.add_argument("--to", help="an address; display name and case do not matter")
    log.add_argument("--status", help="queued, sending, sent, retrying, dead or failed")
    log.add_argument("--template", help="an email type")
    log.add_argument("--hours", type=positive_int, help="only the last N hours")
    log.add_argument("--limit", type=positive_int, default=50, help="default: 50")
    log.add_argument("--json", action="store_true", help="print JSON instead of a table")
    log.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mailer.api import log as api

    try:
        if args.message_id:
            delivery = api.delivery_status(args.message_id)
            found = [] if delivery is None else [delivery]
        else:
            since = None if args.hours is None else _hours_ago(args.hours)
            found = api.search_deliveries(
                to=args.to,
                status=args.status,
                template=args.template,
                since=since,
                limit=args.limit,
            )
    except REDIS_FAILURES as err:
        return redis_failed("could not read the delivery log", err)
    if args.json:
        print(json.dumps([dataclasses.asdict(d) for d in found], indent=2))
    elif args.message_id and found:
        _show(found[0])
    elif found:
        print_table([_COLUMNS, *(_row(d) for d in found)])
    if not found:
        print(f"mailer: {_nothing_matched(args)}", file=sys.stderr)
    return 0 if found else 1


def _nothing_matched(args: argparse.Namespace) -> str:
    if args.message_id:
        return f"no message {args.message_id} in the delivery log (kept for its retention days)"
    given = [f"--{name} {getattr(args, name)}" for name in _FILTERS if getattr(args, name)]
    return f"no email in the delivery log matches {' '.join(given) or 'the search'}"


_FILTERS = ("to", "status", "template", "hours")


def _hours_ago(hours: int) -> datetime:
    return datetime.fromtimestamp(time.time() - hours * 3600, timezone.utc)


def _row(delivery: Delivery) -> tuple[str, ...]:
    return (
        format_utc(delivery.created_at),
        delivery.status + (f" ({delivery.throttled} throttled)" if delivery.throttled else ""),
        delivery.template,
        ", ".join(delivery.to),
        str(sum(a.outcome != "throttled" for a in delivery.attempts)),
        (delivery.error or "")[:60],
        delivery.message_id,
    )


def _show(delivery: Delivery) -> None:
    print(f"message   {delivery.message_id}")
    print(f"template  {delivery.template} on {delivery.queue_name}")
    print(f"to        {', '.join(delivery.to)}")
    print(f"status    {delivery.status}, queued {format_utc(delivery.created_at)}")
    if delivery.backend:
        print(f"backend   {delivery.backend}  provider id {delivery.provider_id or '-'}")
    for attempt in delivery.attempts:
        detail = attempt.provider_id if attempt.outcome == "sent" else attempt.error
        backend = attempt.backend or "-"
        print(f"  {format_utc(attempt.at)}  {attempt.outcome:9}  {backend:8}  {detail or ''}")
