"""``mailer suppress add|remove|list``: the suppression list, edited from a shell.

Support staff take an address off after a mistaken unsubscribe, or put one on after a
complaint by phone; both need only Redis, neither the broker nor the templates.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mailer.cli.arguments import positive_int
from mailer.cli.output import REDIS_FAILURES, format_utc, print_table, redis_failed


def _add(args: argparse.Namespace) -> int:
    from mailer.api.suppression import suppress

    try:
        added = suppress(args.addresses, args.reason)
    except REDIS_FAILURES as err:
        return redis_failed("could not update the suppression list", err)
    print(f"{added} added, {len(args.addresses) - added} already suppressed")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from mailer.api.suppression import unsuppress

    try:
        removed = unsuppress(args.addresses)
    except REDIS_FAILURES as err:
        return redis_failed("could not update the suppression list", err)
    print(f"{removed} removed")
    return 0 if removed else 1


def _list(args: argparse.Namespace) -> int:
    import itertools

    from mailer import settings, stores

    entries = stores.for_settings(settings.current()).suppression
    try:
        shown = list(itertools.islice(entries, args.limit))
        total = len(entries)
    except REDIS_FAILURES as err:
        return redis_failed("could not read the suppression list", err)
    if args.json:
        found = [{"address": s.address, "reason": s.reason, "at": s.at} for s in shown]
        print(json.dumps({"total": total, "suppressed": found}))
        return 0
    if shown:
        rows = [(s.address, s.reason, format_utc(s.at)) for s in shown]
        print_table([("address", "reason", "since (UTC)"), *rows])
    print(f"{len(shown)} shown, {total} suppressed in all")
    return 0


def register(commands: Any) -> None:
    from mailer.stores.suppression import REASONS

    suppress = commands.add_parser("suppress", help="addresses mailer will not send news to")
    actions = suppress.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="suppress addresses")
    add.add_argument("addresses", nargs="+", metavar="ADDRESS")
    add.add_argument("--reason", choices=REASONS, default="manual")
    add.set_defaults(run=_add)
    remove = actions.add_parser("remove", help="take addresses off the list")
    remove.add_argument("addresses", nargs="+", metavar="ADDRESS")
    remove.set_defaults(run=_remove)
    listing = actions.add_parser("list", help="show suppressed addresses")
    listing.add_argument("--limit", type=positive_int, default=100)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
