"""``/deliveries/<id>``: one message in full: its record and every attempt, the email as it
went out (re-rendered from what the log kept), or as Redis still holds it.

Every context shown is masked (``mailer.stores.sent_content.mask_sensitive``): a reset link
on the page would be a way into someone's account for whoever reads over a shoulder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailer.errors import MailerError
from mailer.message import context_of, envelope_of, template_of
from mailer.stores.sent_content import MASK, SentContent, SentContents, mask_sensitive
from mailer.templates.fingerprint import fingerprint
from mailer.web.http import Request, Response
from mailer.web.pages import Services
from mailer.web.render import page
from mailer.web.stored_messages import Preview, Stored

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
    changed_since: bool = False  # re-rendered from a template changed since it was sent


def message(request: Request, services: Services, message_id: str) -> Response:
    delivery = services.log.get(message_id)
    stored = services.finder.find(message_id, delivery.queue_name if delivery else None)
    kept = SentContents(services.log.client, retention_s=1, prefix=services.log.prefix).get(
        message_id
    )
    if delivery is None and stored is None and kept is None:
        return page(request, "not_found.html", status=404, message_id=message_id)
    return page(
        request,
        "message.html",
        message_id=message_id,
        delivery=delivery,
        stored=stored,
        held=_held(services, stored) if stored else None,
        sent=_sent(services, kept) if kept else None,
        mask=MASK,
        notice=NOTICES.get(request.query.get("done", "")),
    )


def _sent(services: Services, kept: SentContent) -> Shown:
    templates = services.templates
    changed = fingerprint(templates.directories, kept.template) != kept.fingerprint
    preview = _render(services, kept.template, kept.context)
    return Shown(kept.template, kept.envelope, kept.context, preview, changed)


def _held(services: Services, stored: Stored) -> Shown:
    message = stored.message
    template = template_of(message)
    context = mask_sensitive(context_of(message))
    envelope = {k: v for k, v in envelope_of(message).items() if k != "attachments"}
    return Shown(template, envelope, context, _render(services, template, context))


def _render(services: Services, template: str, context: dict[str, Any]) -> Preview:
    if not context and not services.templates.exists(template):
        return Preview(None, "the message carries no template context")
    try:
        return Preview(services.templates.render(template, context))
    except MailerError as err:
        return Preview(None, str(err))
