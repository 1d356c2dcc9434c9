"""Django's email backend on mailer: ``EMAIL_BACKEND = "mailer.integrations.django.EmailBackend"``.

Every ``EmailMessage`` and ``EmailMultiAlternatives`` Django sends (``send_mail``,
``mail_admins``, the password-reset form, ``message.send()``) is checked and queued for
mailer's workers, which send it with their retries, rate limit, failover and delivery log, as
the type ``django.message``. ``send_messages`` returns how many it queued, in one Redis
transaction; with ``fail_silently`` a message mailer refuses is left out and counted out.

Options come from ``get_connection(backend, priority="critical")`` or the Django setting
``MAILER_EMAIL_PRIORITY``; mailer's own settings come from the environment as always.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from email.mime.base import MIMEBase
from typing import Any

try:
    from django.conf import settings as django_settings
    from django.core.mail import EmailMessage, EmailMultiAlternatives
    from django.core.mail.backends.base import BaseEmailBackend
except ModuleNotFoundError as err:  # pragma: no cover - depends on the install
    raise ModuleNotFoundError(
        "mailer.integrations.django needs Django: pip install 'mailer[django]'", name=err.name
    ) from err

from mailer.api.rendered import enqueue_rendered, rendered_message
from mailer.envelope import Attachment, Email
from mailer.errors import InvalidAttachment, MailerError

#: Headers Django lets a message set that mailer keeps as fields of its own.
_AS_FIELDS = {"from": "from_email", "reply-to": "reply_to"}
_DEFAULT_MIMETYPE = "application/octet-stream"


class EmailBackend(BaseEmailBackend):  # type: ignore[misc]
    def __init__(self, fail_silently: bool = False, priority: str | None = None, **kwargs: Any):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.priority = priority or getattr(django_settings, "MAILER_EMAIL_PRIORITY", None)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Queue each message that has a recipient; how many were queued."""
        checked = []
        for message in email_messages:
            if not message.recipients():
                continue  # as Django's own backends skip it
            try:
                checked.append(rendered_message(to_email(message), priority=self.priority))
            except MailerError:
                if not self.fail_silently:
                    raise
        if not checked:
            return 0
        try:
            enqueue_rendered(checked)
        except MailerError:
            if not self.fail_silently:
                raise
            return 0
        return len(checked)


def to_email(message: EmailMessage) -> Email:
    """mailer's ``Email`` for a Django message: its parts, its addresses, its attachments."""
    text, html = _bodies(message)
    headers = dict(message.extra_headers)
    fields: dict[str, Any] = {"from_email": message.from_email, "reply_to": list(message.reply_to)}
    for name in list(headers):
        field = _AS_FIELDS.get(name.lower())
        if field is not None:
            value = headers.pop(name)
            fields[field] = value if field == "from_email" else [value]
    return Email(
        to=list(message.to),
        cc=list(message.cc),
        bcc=list(message.bcc),
        subject=str(message.subject),
        text=text,
        html=html,
        headers=headers,
        attachments=[_attachment(item) for item in message.attachments],
        **fields,
    )


def _bodies(message: EmailMessage) -> tuple[str, str | None]:
    """The text and the HTML: the body is HTML when its ``content_subtype`` says so; an
    ``EmailMultiAlternatives`` adds the HTML as an alternative."""
    body = _text(message.body)
    text, html = (body, None) if message.content_subtype != "html" else ("", body)
    alternatives = message.alternatives if isinstance(message, EmailMultiAlternatives) else []
    for content, mimetype in alternatives:
        if mimetype != "text/html":
            raise InvalidAttachment(
                "alternatives",
                f"mailer sends a text and an HTML part; attach the {mimetype} part instead",
            )
        html = _text(content)
    return text, html


def _attachment(item: Any) -> Attachment:
    if isinstance(item, MIMEBase):
        payload = item.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else item.as_bytes()
        return Attachment(item.get_filename() or "attachment", content, item.get_content_type())
    filename, content, mimetype = item
    guessed = mimetypes.guess_type(filename or "")[0]
    content = content.encode() if isinstance(content, str) else content
    return Attachment(filename or "attachment", content, mimetype or guessed or _DEFAULT_MIMETYPE)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
