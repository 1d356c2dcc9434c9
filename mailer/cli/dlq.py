"""``mailer dlq list|show|requeue|purge``: the dead-letter queue from the command line.

``requeue`` and ``purge`` act on the letters named by message id, on every letter (``--all``)
or on those the filters match. Named letters are acted on at once. A selection by ``--all`` or
by filters is listed first and then acted on with ``--yes``; without it the command asks at a
terminal and refuses anywhere else (exit status 2), so a script has to say ``--yes``.

Exit status: 0 done; 1 nothing matched, a named letter was not found, the answer was no, or
Redis could not be reached; 2 the arguments were wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mailer.cli import dlq_show
from mailer.cli.arguments import add_documented, positive_int
from mailer.cli.output import REDIS_FAILURES, print_table, redis_failed
from mailer.errors import ValidationError
from mailer.priorities import LEVELS

if TYPE_CHECKING:
    from mailer.stores.dead_letters import DeadLetter, DeadLetters

_COLUMNS = ("dead at (UTC)", "message id", "template", "to", "retries", "error")
_ERROR_CHARS = 60
_FILTERS = ("queue", "template", "error", "to")


def _list(args: argparse.Namespace) -> int:
    dead = dead_letters()
    try:
        letters = dead.list(**_criteria(args), limit=args.limit)
        total = dead.count()
    except REDIS_FAILURES as err:
        return redis_failed("could not read the dead letters", err)
    if args.json:
        print(json.dumps({"total": total, "dead_letters": [summary(x) for x in letters]}))
    else:
        if letters:
            print_table([_COLUMNS, *(_row(letter) for letter in letters)])
        print(f"{len(letters)} shown, {total} dead in all")
    return 0 if letters else 1


def _act(args: argparse.Namespace) -> int:
    """``requeue`` or ``purge`` (``args.verb``), each a method of ``DeadLetters``."""
    _check_selection(args)
    dead, verb = dead_letters(), args.verb
    try:
        letters, missing = _select(dead, args)
        if not letters:
            print("mailer: no dead letters match", file=sys.stderr)
            return 1
        refused = None if args.message_ids or args.yes else _refusal(letters, verb)
        if refused is not None:
            return refused
        done: int = getattr(dead, verb)(letters)
    except REDIS_FAILURES as err:
        return redis_failed(f"could not {verb} the dead letters", err)
    gone = f" ({len(letters) - done} had gone meanwhile)" if done < len(letters) else ""
    print(f"{verb}d {done} dead letter(s){gone}")
    return 1 if missing else 0


def _check_selection(args: argparse.Namespace) -> None:
    """Message ids, ``--all`` or filters: exactly one way of saying which letters."""
    filtered = any(getattr(args, name) is not None for name in _FILTERS)
    ways = [bool(args.message_ids), args.all, filtered]
    if sum(ways) != 1:
        raise ValidationError("selection", "give message ids, or --all, or filters (only one)")


def _select(dead: DeadLetters, args: argparse.Namespace) -> tuple[list[DeadLetter], list[str]]:
    """The letters asked for, and the named message ids that are not dead letters."""
    if not args.message_ids:
        return dead.list(**_criteria(args), limit=args.limit), []
    letters, missing = [], []
    for message_id in dict.fromkeys(args.message_ids):
        letter = dead.get(message_id)
        if letter is None:
            print(f"mailer: no dead letter with the message id {message_id}", file=sys.stderr)
            missing.append(message_id)
        else:
            letters.append(letter)
    return letters, missing


def _refusal(letters: list[DeadLetter], verb: str) -> int | None:
    """Show what would be acted on, then None to go ahead, or the exit status: 1 if the person
    at the terminal said no, 2 with no one to ask (a script must say ``--yes``)."""
    print_table([_COLUMNS, *(_row(letter) for letter in letters)])
    count = f"{len(letters)} dead letter(s)"
    if not sys.stdin.isatty():
        print(f"mailer: {count} match; add --yes to {verb} them", file=sys.stderr)
        return 2
    try:
        answer = input(f"{verb.capitalize()} these {count}? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return None
    print(f"nothing {verb}d")
    return 1


def dead_letters() -> DeadLetters:
    """On mailer's broker, every actor declared, so a requeue is logged as any enqueue is."""
    import mailer.actors  # noqa: F401  (declares the actors on the broker)
    from mailer import settings, stores
    from mailer.actors import broker
    from mailer.stores.dead_letters import DeadLetters

    return DeadLetters(broker, log=stores.for_settings(settings.current()).delivery_log)


def _criteria(args: argparse.Namespace) -> dict[str, str | None]:
    return {name: getattr(args, name) for name in _FILTERS}


def _when(letter: DeadLetter) -> datetime:
    return datetime.fromtimestamp(letter.dead_at, timezone.utc)


def _row(letter: DeadLetter) -> tuple[str, ...]:
    error = letter.error or ""
    if len(error) > _ERROR_CHARS:
        error = error[: _ERROR_CHARS - 3] + "..."
    at = _when(letter).strftime("%Y-%m-%d %H:%M:%SZ")
    to = ", ".join(letter.to)
    return at, letter.message_id, letter.template, to, str(letter.retries), error


def summary(letter: DeadLetter) -> dict[str, Any]:
    return {
        "message_id": letter.message_id,
        "queue_name": letter.queue_name,
        "template": letter.template,
        "to": letter.to,
        "dead_at": _when(letter).isoformat(),
        "retries": letter.retries,
        "error": letter.error,
    }


def _queue(text: str) -> str:
    names = {*LEVELS, *(level.queue_name for level in LEVELS.values())}
    if text not in names:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(sorted(names))}")
    return text


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", type=_queue, help="a priority level or its queue's name")
    parser.add_argument("--template", help="the email type")
    parser.add_argument("--error", help="part of the error, in any case")
    parser.add_argument("--to", help="a recipient's address")


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message_ids", nargs="*", metavar="MESSAGE_ID")
    parser.add_argument("--all", action="store_true", help="every dead letter")
    _add_filters(parser)
    parser.add_argument("--limit", type=positive_int, help="at most this many, newest first")
    parser.add_argument("--yes", action="store_true", help="act on --all or filters unasked")


def register(commands: Any) -> None:
    dlq = add_documented(commands, "dlq", "list, show, requeue or purge dead letters", __doc__)
    actions = dlq.add_subparsers(required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="dead letters, newest first")
    _add_filters(listing)
    listing.add_argument("--limit", type=positive_int, default=100, help="default: 100")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_list)

    show = actions.add_parser("show", help="one dead letter: envelope, error, retries")
    show.add_argument("message_id", metavar="MESSAGE_ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(run=lambda args: dlq_show.show(args, dead_letters(), summary))

    requeue = actions.add_parser("requeue", help="send dead letters again, retries reset")
    _add_selection(requeue)
    requeue.set_defaults(run=_act, verb="requeue")

    purge = actions.add_parser("purge", help="delete dead letters for good")
    _add_selection(purge)
    purge.set_defaults(run=_act, verb="purge")
