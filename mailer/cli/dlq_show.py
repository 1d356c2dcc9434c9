"""``mailer dlq show``: one dead letter as it would be sent, sensitive values masked."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mailer.cli.output import REDIS_FAILURES, redis_failed

if TYPE_CHECKING:
    from mailer.stores.dead_letters import DeadLetter, DeadLetters


def show(
    args: argparse.Namespace,
    dead: DeadLetters,
    summary: Callable[[DeadLetter], dict[str, Any]],
) -> int:
    """Print the letter ``args.message_id`` names, ``summary`` its listing's fields."""
    try:
        letter = dead.get(args.message_id)
    except REDIS_FAILURES as err:
        return redis_failed("could not read the dead letters", err)
    if letter is None:
        print(f"mailer: no dead letter with the message id {args.message_id}", file=sys.stderr)
        return 1
    details = {**summary(letter), **_details(letter)}
    if args.json:
        print(json.dumps(details))
    else:
        html = details.pop("html", None)
        text = details.pop("text", None)
        for name, value in details.items():
            print(f"{name + ':':12} {_text(value)}")
        if text is not None:
            print(f"\n{text}\n\n(and its HTML part, {len(html or '')} characters: --json)")
    return 0


def _details(letter: DeadLetter) -> dict[str, Any]:
    """What would be sent: the content the delivery log keeps of the last try (or, if no
    worker tried it, the dead letter's own), its envelope as it will go out (the sender
    resolved, the parts the worker fills left out), the context and the email rendered, the
    type's sensitive values masked in both."""
    from mailer import settings
    from mailer.api.log import delivery_status
    from mailer.api.rerender import render_masked, rerender
    from mailer.errors import MailerError
    from mailer.message import context_of, envelope_of

    kept = delivery_status(letter.message_id)
    if kept is not None and kept.envelope:
        envelope = kept.envelope
    else:  # dead before a worker tried it: the letter is all there is
        kept, envelope = None, envelope_of(letter.message)
        envelope = {**envelope, "attachments": _attachments(envelope.get("attachments", []))}
    envelope = {
        name: value
        for name, value in envelope.items()
        if name not in ("subject", "text", "html") and value not in ("", [], {}, None)
    }
    envelope["from_email"] = envelope.get("from_email") or settings.current().from_email
    try:
        shown = (
            rerender(kept)
            if kept
            else render_masked(letter.template, context_of(letter.message), envelope)
        )
    except MailerError as err:  # the template is gone or broken: say so, show the rest
        return {"envelope": envelope, "rendered": f"cannot render: {err}"}
    rendered = {"subject": shown.subject, "text": shown.text, "html": shown.html}
    return {"envelope": envelope, "context": shown.context, **rendered}


def _attachments(attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each attachment's name, type and size in bytes, without its content, as the delivery
    log keeps them."""
    return [
        {key: item.get(key) for key in ("filename", "mimetype")}
        | {"size": len(base64.b64decode(item.get("content", "")))}
        for item in attachments
    ]


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    return value if isinstance(value, str) else json.dumps(value, indent=2)
