"""Show an email as it went out, or would go out: rendered again, sensitive values masked.

The delivery log keeps what an email was made of (its envelope and its context, masked before
they were written; ``mailer.stores.delivery_records``) and, with each attempt, the fingerprint
of the template sources it rendered. ``rerender`` turns a logged delivery back into its
subject, HTML and text, and says whether the template has changed since it was tried;
``render_masked`` does the same for any type and context (a message still held in Redis). Every
face that shows an email (the dashboard's message page, ``mailer dlq show``) calls these.

Sensitive context values (``email_type(..., sensitive=...)``) are masked before rendering, so
nothing of them reaches the page or the terminal. A variable the worker adds at send time and
the log does not keep (the per-recipient ``unsubscribe_url``) shows as the mask too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mailer import settings as mailer_settings
from mailer import templates as mailer_templates
from mailer.actors.emails import sensitive_keys
from mailer.masking import MASK, mask_sensitive
from mailer.stores.delivery_search import Delivery
from mailer.templates import Templates

__all__ = ["Rerendered", "render_masked", "rerender"]


@dataclass(frozen=True)
class Rerendered:
    """An email rendered again from what was kept, sensitive values masked."""

    template: str
    subject: str
    html: str
    text: str
    #: The envelope as kept (attachments by name, type and size) and the masked context.
    envelope: dict[str, Any]
    context: dict[str, Any]
    #: True when the type's sources differ from those the last try rendered; None when the
    #: record does not say (no try rendered it yet).
    template_changed: bool | None = None


def render_masked(
    template: str,
    context: Mapping[str, Any],
    envelope: Mapping[str, Any] | None = None,
    *,
    sensitive: Iterable[str] | None = None,
    templates: Templates | None = None,
) -> Rerendered:
    """Render ``template`` with ``context`` masked (``sensitive``: the type's own keys by
    default), from ``templates`` (the configured ones by default). Raises
    ``UnknownTemplate`` or ``RenderError`` as a send would."""
    found = templates or mailer_templates.for_settings(mailer_settings.current())
    keys = sensitive_keys(template) if sensitive is None else tuple(sensitive)
    masked = mask_sensitive(context, keys)
    shown = {**dict.fromkeys(found.required_variables(template), MASK), **masked}
    rendered = found.render(template, shown)
    return Rerendered(
        template, rendered.subject, rendered.html, rendered.text, dict(envelope or {}), masked
    )


def rerender(delivery: Delivery, *, templates: Templates | None = None) -> Rerendered:
    """A logged delivery as it went out (or was last tried), from its kept template name,
    envelope and context, labelled with whether the template changed since."""
    found = templates or mailer_templates.for_settings(mailer_settings.current())
    shown = render_masked(delivery.template, delivery.context, delivery.envelope, templates=found)
    sent_with = next((a.template_sha for a in reversed(delivery.attempts) if a.template_sha), None)
    if sent_with is None:
        return shown
    return dataclasses.replace(
        shown, template_changed=found.fingerprint(delivery.template) != sent_with
    )
