"""``/suppressions``: search the suppression list, add an address, remove one with a reason.

Every change made here is recorded with the operator's name and reason
(``mailer.stores.suppression_changes``), and the page lists the latest.
"""

from __future__ import annotations

from mailer.addresses import parse_address
from mailer.errors import InvalidAddress
from mailer.stores.suppression import REASONS
from mailer.stores.suppression_changes import MAX_NOTE_CHARS, SuppressionChanges, search
from mailer.web.auth import USER_KEY
from mailer.web.http import Request, Response, redirect
from mailer.web.pages import Services
from mailer.web.render import page

LIST_LIMIT = 100
CHANGES_SHOWN = 20
NOTICES = {
    "added": "Suppressed: news will not be sent to it.",
    "already": "It was already suppressed; its reason is now the one given.",
    "removed": "Removed from the suppression list.",
    "absent": "It was not on the suppression list.",
}


def listing(request: Request, services: Services, problem: str | None = None) -> Response:
    query = request.query.get("q", "").strip()
    found = search(services.stores.suppression, query, LIST_LIMIT + 1)
    return page(
        request,
        "suppressions.html",
        status=400 if problem else 200,
        query=query,
        found=found[:LIST_LIMIT],
        more=len(found) > LIST_LIMIT,
        total=len(services.stores.suppression),
        reasons=REASONS,
        changes=_changes(services).recent(CHANGES_SHOWN),
        notice=NOTICES.get(request.query.get("done", "")),
        address=request.query.get("address", ""),
        problem=problem,
        max_note=MAX_NOTE_CHARS,
    )


def add(request: Request, services: Services) -> Response:
    reason = request.form.get("reason", "")
    try:
        address = parse_address(request.form.get("address", "").strip(), "address")
    except InvalidAddress as err:
        return listing(request, services, problem=f"Not an address: {err}")
    if reason not in REASONS:
        return listing(request, services, problem=f"Reason must be one of {', '.join(REASONS)}.")
    new = services.stores.suppression.add([address], reason)
    _changes(services).record(address, "added", reason, _operator(request))
    return redirect("/suppressions", {"done": "added" if new else "already", "address": address})


def remove(request: Request, services: Services) -> Response:
    address, reason = (
        request.form.get("address", "").strip(),
        request.form.get("reason", "").strip(),
    )
    if not reason:
        return listing(request, services, problem="Say why the address comes off the list.")
    removed = services.stores.suppression.remove([address]) if address else 0
    if removed:
        _changes(services).record(address, "removed", reason, _operator(request))
    return redirect(
        "/suppressions", {"done": "removed" if removed else "absent", "address": address}
    )


def _changes(services: Services) -> SuppressionChanges:
    return SuppressionChanges(services.stores.client)


def _operator(request: Request) -> str:
    """The Basic-auth user; a dashboard serving one developer's machine has none."""
    return str(request.environ.get(USER_KEY, "local"))
