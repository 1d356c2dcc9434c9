"""``/deliveries/<id>``: one message in full: its record and every attempt, and the email as
its last try went out (re-rendered from what the log keeps) or, before any try, as Redis holds
it.

Every context shown is masked with its type's sensitive keys (``mailer.api.rerender``): a reset
link on the page would be a way into someone's account for whoever reads over a shoulder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailer.errors import MailerError
from mailer.masking import MASK, mask_sensitive
from mailer.message import context_of, envelope_of, template_of
from mailer.stores.delivery_search import Delivery
from mailer.templates import Rendered
from mailer.web.http import Request, Response
from mailer.web.pages import Services
from mailer.web.render import page
from mailer.web.stored_messages import Preview, Stored

if TYPE_CHECKING:
    from mailer.api.rerender import Rerendered

#: Notices a redirect may ask the page to show, by key, so no text comes from the URL.
NOTICES = {
    "requeued": "Requeued: the message is back on its queue.",
    "deleted": "Deleted from the dead letters.",
    "gone": "The message was no longer in the dead letters.",
}


@dataclass(frozen=True)
class Shown:
    """An email to show: what it was made of, and its rendering or why there is none."""

    template: str
    envelope: dict[str, Any]
    context: dict[str, Any]
    preview: Preview
    #: Re-rendered from a template changed since it was tried; None: not known.
    changed_since: bool | None = None


def message(request: Request, services: Services, message_id: str) -> Response:
    delivery = services.log.get(message_id)
    stored = services.finder.find(message_id, delivery.queue_name if delivery else None)
    if delivery is None and stored is None:
        return page(request, "not_found.html", status=404, message_id=message_id)
    kept = _kept(services, delivery) if delivery and delivery.envelope else None
    return page(
        request,
        "message.html",
        message_id=message_id,
        delivery=delivery,
        stored=stored,
        held=_held(services, stored) if stored and kept is None else None,
        kept=kept,
        mask=MASK,
        notice=NOTICES.get(request.query.get("done", "")),
    )


def _kept(services: Services, delivery: Delivery) -> Shown:
    """The content the log keeps of its last try, rendered again."""
    # Imported here: the actors are declared by ``make_app``, not by importing the pages.
    from mailer.api.rerender import rerender

    if not services.templates.exists(delivery.template):
        return Shown(delivery.template, delivery.envelope, delivery.context, _no_template())
    try:
        shown = rerender(delivery, templates=services.templates)
    except MailerError as err:
        why = Preview(None, str(err))
        return Shown(delivery.template, delivery.envelope, delivery.context, why)
    return _shown(shown, changed_since=shown.template_changed)


def _held(services: Services, stored: Stored) -> Shown:
    """A message no worker has tried yet, from the copy Redis holds."""
    from mailer.actors.emails import sensitive_keys
    from mailer.api.rerender import render_masked

    message = stored.message
    template, context = template_of(message), context_of(message)
    envelope = {k: v for k, v in envelope_of(message).items() if k != "attachments"}
    masked = mask_sensitive(context, sensitive_keys(template))
    if not services.templates.exists(template):
        return Shown(template, envelope, masked, _no_template())
    try:
        return _shown(render_masked(template, masked, envelope, templates=services.templates))
    except MailerError as err:
        return Shown(template, envelope, masked, Preview(None, str(err)))


def _no_template() -> Preview:
    """Why an email has no rendering: the app sent it rendered (Django's email backend), or
    its type has been removed since."""
    return Preview(None, "there is no email type of this name to render it from")


def _shown(shown: Rerendered, *, changed_since: bool | None = None) -> Shown:
    preview = Preview(Rendered(shown.subject, shown.html, shown.text))
    return Shown(shown.template, shown.envelope, shown.context, preview, changed_since)
