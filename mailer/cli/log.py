"""``mailer log``: what happened to an email, from the delivery log, in two keystrokes.

``mailer log --to ann@example.com`` lists her emails newest first with their status and last
error; ``--to user5`` every address that starts so, ``--to @example.com`` a domain; with
``--template``, ``--status`` and a time range (``--hours``, or ``--since``/``--until``), a page
at a time (``--page``) with the exact number found. ``mailer log MESSAGE_ID`` shows one with
every attempt and its context, sensitive values masked; ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mailer.cli.arguments import positive_int, utc_time
from mailer.cli.output import REDIS_FAILURES, format_utc, print_table, redis_failed
from mailer.provider_events import PROVIDER_STATUSES

if TYPE_CHECKING:
    from mailer.stores.delivery_log import Delivery
    from mailer.stores.delivery_search import DeliveryPage

# Attempts that were not a try at sending: a throttle, a requeue, or an event the provider
# reported.
_NOT_TRIES = ("throttled", "requeued", *PROVIDER_STATUSES)
_COLUMNS = ("queued at (UTC)", "status", "template", "to", "tries", "last error", "message id")


def register(commands: Any) -> None:
    log = commands.add_parser("log", help="what happened to emails: the delivery log")
    log.add_argument("message_id", nargs="?", help="show this message with every attempt")
    log.add_argument("--to", help="the start of an address (any case), or @domain")
    log.add_argument(
        "--status",
        help="queued, sending, sent, retrying, dead, failed, suppressed, or what the provider "
        "reported: delivered, deferred, bounced, complained, rejected, opened, clicked",
    )
    log.add_argument("--template", help="an email type")
    log.add_argument("--hours", type=positive_int, help="only the last N hours")
    log.add_argument("--since", type=utc_time, help="created at or after (ISO 8601, UTC)")
    log.add_argument("--until", type=utc_time, help="created at or before (ISO 8601, UTC)")
    log.add_argument("--limit", type=positive_int, default=50, help="rows a page; default: 50")
    log.add_argument("--page", type=positive_int, default=1, help="which page; default: 1")
    log.add_argument("--json", action="store_true", help="print JSON instead of a table")
    log.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mailer.api import log as api

    page: DeliveryPage | None = None
    try:
        if args.message_id:
            delivery = api.delivery_status(args.message_id)
            found: Sequence[Delivery] = [] if delivery is None else [delivery]
        else:
            found = page = api.search_deliveries(
                to=args.to,
                status=args.status,
                template=args.template,
                since=args.since if args.hours is None else _hours_ago(args.hours),
                until=args.until,
                limit=args.limit,
                offset=(args.page - 1) * args.limit,
            )
    except REDIS_FAILURES as err:
        return redis_failed("could not read the delivery log", err)
    if args.json:
        print(json.dumps([_masked(d) for d in found], indent=2))
    elif args.message_id and found:
        _show(found[0])
    elif page:
        print_table([_COLUMNS, *(_row(d) for d in page)])
        print(_counted(page))
    if not found:
        print(f"mailer: {_nothing_matched(args)}", file=sys.stderr)
    return 0 if found else 1


def _masked(delivery: Delivery) -> dict[str, Any]:
    """The record as JSON, the values of its type's sensitive context keys masked."""
    from mailer.actors.emails import sensitive_keys
    from mailer.masking import mask_sensitive

    data = dataclasses.asdict(delivery)
    data["context"] = mask_sensitive(delivery.context, sensitive_keys(delivery.template))
    return data


def _counted(page: DeliveryPage) -> str:
    last = page.offset + len(page)
    more = ", --page for more" if last < page.total else ""
    return f"{page.offset + 1}-{last} of {page.total}{more}"


def _nothing_matched(args: argparse.Namespace) -> str:
    if args.message_id:
        return f"no message {args.message_id} in the delivery log (kept for its retention days)"
    given = [f"--{name} {getattr(args, name)}" for name in _FILTERS if getattr(args, name)]
    return f"no email in the delivery log matches {' '.join(given) or 'the search'}"


_FILTERS = ("to", "status", "template", "hours", "since", "until")


def _hours_ago(hours: int) -> datetime:
    return datetime.fromtimestamp(time.time() - hours * 3600, timezone.utc)


def _row(delivery: Delivery) -> tuple[str, ...]:
    return (
        format_utc(delivery.created_at),
        delivery.status + (f" ({delivery.throttled} throttled)" if delivery.throttled else ""),
        delivery.template,
        ", ".join(delivery.to),
        str(sum(a.outcome not in _NOT_TRIES for a in delivery.attempts)),
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
    if delivery.context:
        print(f"context   {json.dumps(_masked(delivery)['context'], sort_keys=True)}")
    for attempt in delivery.attempts:
        detail = attempt.provider_id if attempt.outcome == "sent" else attempt.error
        backend = attempt.backend or "-"
        print(f"  {format_utc(attempt.at)}  {attempt.outcome:9}  {backend:8}  {detail or ''}")
