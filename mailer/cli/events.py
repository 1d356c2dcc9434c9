"""``mailer events``: which topics have subscribers, and which ready flows could be switched on.

It answers "what happens when the app publishes X?" from the same declarations the worker
uses: the app's modules (``MAILER_EVENT_MODULES``) and the flows ``MAILER_FLOWS`` switches on.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from mailer.cli.output import print_table

if TYPE_CHECKING:
    from mailer.actors.events import Subscriber

_COLUMNS = ("topic", "subscriber", "queue", "retries", "requires")


def _events(args: argparse.Namespace) -> int:
    from mailer.actors.events import SUBSCRIBERS, load_event_modules
    from mailer.api.events import READY_FLOW_TOPICS

    load_event_modules()
    rows = [_row(s) for topic in sorted(SUBSCRIBERS) for s in SUBSCRIBERS[topic]]
    off = sorted(READY_FLOW_TOPICS - set(SUBSCRIBERS))
    if args.json:
        print(
            json.dumps(
                {
                    "subscribers": [dict(zip(_COLUMNS, row, strict=True)) for row in rows],
                    "flows_off": off,
                }
            )
        )
        return 0
    if rows:
        print_table([_COLUMNS, *rows])
    print(f"{len(rows)} subscriber(s) on {len(SUBSCRIBERS)} topic(s)")
    if off:
        print(f"ready flows not switched on (MAILER_FLOWS): {', '.join(off)}")
    return 0


def _row(subscriber: Subscriber) -> tuple[str, ...]:
    retries = str(subscriber.actor.options["max_retries"])
    requires = ", ".join(subscriber.requires)
    return (subscriber.topic, subscriber.name, subscriber.actor.queue_name, retries, requires)


def register(commands: Any) -> None:
    events = commands.add_parser("events", help="list event topics and their subscribers")
    events.add_argument("--json", action="store_true", help="one JSON document")
    events.set_defaults(run=_events)
