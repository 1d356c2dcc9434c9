"""``/dead-letters``: what dramatiq-dashboard cannot do, requeue or delete in bulk.

After a provider outage or a broken template is fixed, hundreds of dead letters share one
cause; these pages select them by queue, email type, error text or recipient and requeue or
delete every one that matches with one click, or a single one from its own page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mailer.stores.dead_letters import DeadLetter, DeadLetters
from mailer.web.http import Request, Response, redirect
from mailer.web.pages import Services
from mailer.web.render import page

#: Dead letters listed on the page; a bulk action acts on every match, listed or not.
LIST_LIMIT = 100
FILTERS = ("queue", "template", "error", "to")
_ACTIONS: dict[str, tuple[str, Callable[[DeadLetters, Iterable[DeadLetter]], int]]] = {
    "requeue": ("requeued", DeadLetters.requeue),
    "delete": ("deleted", DeadLetters.purge),
}


def listing(request: Request, services: Services) -> Response:
    filters = _filters(request.query)
    letters = services.dead_letters.list(**_criteria(filters), limit=LIST_LIMIT + 1)
    done, count = request.query.get("done", ""), request.query.get("count", "")
    return page(
        request,
        "dead_letters.html",
        filters=filters,
        letters=letters[:LIST_LIMIT],
        more=len(letters) > LIST_LIMIT,
        queues=sorted(services.broker.get_declared_queues()),
        notice=(done, int(count)) if done in ("requeued", "deleted") and count.isdigit() else None,
    )


def bulk(request: Request, services: Services, action: str) -> Response:
    """Requeue or delete every dead letter matching the form's filters, then list again."""
    done, act = _ACTIONS[action]
    filters = _filters(request.form)
    letters = services.dead_letters.list(**_criteria(filters), limit=None)
    count = act(services.dead_letters, letters)
    kept = {name: value for name, value in filters.items() if value}
    return redirect("/dead-letters", {**kept, "done": done, "count": str(count)})


def single(request: Request, services: Services, action: str, message_id: str) -> Response:
    """Requeue or delete one dead letter, then show its message page."""
    done, act = _ACTIONS[action]
    letter = services.dead_letters.get(message_id)
    if letter is None:
        done = "gone"
    else:
        act(services.dead_letters, [letter])
    return redirect(f"/deliveries/{message_id}", {"done": done})


def _filters(source: dict[str, str]) -> dict[str, str]:
    return {name: source.get(name, "").strip() for name in FILTERS}


def _criteria(filters: dict[str, str]) -> dict[str, str | None]:
    return {name: value or None for name, value in filters.items()}
