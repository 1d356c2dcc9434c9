"""What a delivery-log record keeps of a message, of an attempt, and of an email's content.

Dramatiq forgets a message once it is acked, so the log keeps what an email was made of
beside its record (``log:message:<id>:content``): its envelope as it went out (recipients after
suppression, the sender, headers; attachments by name, type and size only, not their bytes)
and its template context, as zlib-compressed JSON of about half a kilobyte. The worker writes
it in the pipeline that settles each attempt (``sent``, ``retrying``, ``dead``); the producer
never does, so ``send_email`` costs nothing more.

The context is masked before it is written, with the keys the email type declares sensitive
(``email_type(..., sensitive=...)``): a password-reset link is a credential for as long as it
is valid, and no one reading Redis, a backup, the dashboard or ``mailer log`` can use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mailer.compression import compressed
from mailer.envelope import Email
from mailer.masking import mask_sensitive
from mailer.stores.delivery_search import Attempt

_MAX_ERROR_CHARS = 500
# zlib's fastest level: a content is under a kilobyte, and this halves what it keeps in Redis.
_LEVEL = 1


def packed_content(email: Email, context: Mapping[str, Any], sensitive: Iterable[str]) -> bytes:
    """The email's kept envelope and its context, ``sensitive`` keys masked, compressed."""
    data = {"envelope": kept_envelope(email), "context": mask_sensitive(context, sensitive)}
    return compressed(json.dumps(data, separators=(",", ":")).encode(), _LEVEL)


def kept_envelope(email: Email) -> dict[str, Any]:
    """The envelope as a re-render needs it: an attachment's name, type and size, not its
    content, which a month of records would otherwise hold in Redis."""
    kept = {k: getattr(email, k) for k in ("to", "cc", "bcc", "reply_to", "from_email")}
    kept["headers"] = dict(email.headers)
    kept["tags"] = list(email.tags)
    kept["attachments"] = [
        {"filename": a.filename, "mimetype": a.mimetype, "size": len(a.content)}
        for a in email.attachments
    ]
    return kept


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    data = {k: v for k, v in attempt.__dict__.items() if v is not None}
    if "error" in data:
        data["error"] = str(data["error"])[:_MAX_ERROR_CHARS]
    return data
