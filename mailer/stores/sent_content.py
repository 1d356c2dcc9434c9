"""What a sent email was made of, kept beside its delivery-log record so it can be shown again.

Dramatiq forgets a message once it is acked, so after a send the dashboard could say only what
happened, not what went out. On ``sent`` the worker stores, in the same round trip as the
outcome, the email's type, its envelope as it went out (recipients after suppression, the
sender, headers; attachments by name, type and size only) and its template context with the
values of sensitive keys already masked, plus a fingerprint of the template's files, as
zlib-compressed JSON (about 0.5 kB an email beside the log record's 1.4 kB). The dashboard
re-renders the email from these on demand, and says so when the template has changed since.
The key expires with the log record (``MAILER_LOG_RETENTION_DAYS``).

A password-reset link is a credential for as long as it is valid, so it is masked before it is
stored: no one reading Redis, the dashboard or a backup can use it.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from mailer.envelope import Email
from mailer.stores.keys import DEFAULT_PREFIX, namespaced
from mailer.stores.scripts import Batch

#: Context keys whose values are credentials, masked wherever an operator can look.
DEFAULT_SENSITIVE = frozenset({"reset_url", "verify_url"})
MASK = "••••••"
# zlib's fastest level: a record is under a kilobyte, and this halves what it keeps in Redis.
_LEVEL = 1


def mask_sensitive(
    context: Mapping[str, Any], keys: Iterable[str] = DEFAULT_SENSITIVE
) -> dict[str, Any]:
    """``context`` with the value of every key in ``keys`` replaced by ``MASK``, at any depth."""
    hidden = frozenset(keys)

    def mask(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: MASK if k in hidden else mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mask(item) for item in value]
        return value

    masked: dict[str, Any] = mask(context)
    return masked


@dataclass(frozen=True)
class SentContent:
    template: str
    envelope: dict[str, Any]  # Email.to_json() less the rendered parts and attachment bytes
    context: dict[str, Any]  # sensitive values masked
    fingerprint: str  # of the template's files when it was sent
    sent_at: float


class SentContents:
    def __init__(
        self, client: redis.Redis, *, retention_s: int, prefix: str = DEFAULT_PREFIX
    ) -> None:
        self.client = client
        self.retention_s = retention_s
        self.prefix = prefix

    def key(self, message_id: str) -> str:
        """Beside the log record (``log:message:<id>``), so it is found and expires with it."""
        return namespaced(self.prefix, "log", "message", message_id) + ":content"

    def record_into(
        self,
        batch: Batch,
        message_id: str,
        template: str,
        email: Email,
        context: Mapping[str, Any],
        *,
        fingerprint: str,
        sensitive: Iterable[str] = DEFAULT_SENSITIVE,
    ) -> None:
        data = {
            "template": template,
            "envelope": _outline(email),
            "context": mask_sensitive(context, sensitive),
            "fingerprint": fingerprint,
            "sent_at": time.time(),
        }
        packed = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), _LEVEL)
        batch.pipe.set(self.key(message_id), packed, ex=self.retention_s)

    def get(self, message_id: str) -> SentContent | None:
        raw = self.client.get(self.key(message_id))
        if raw is None:
            return None
        data = json.loads(zlib.decompress(raw))
        return SentContent(
            data["template"],
            data["envelope"],
            data["context"],
            data["fingerprint"],
            float(data["sent_at"]),
        )


def _outline(email: Email) -> dict[str, Any]:
    outline = {k: getattr(email, k) for k in ("to", "cc", "bcc", "reply_to", "from_email")}
    outline["headers"] = dict(email.headers)
    outline["tags"] = list(email.tags)
    outline["attachments"] = [
        {"filename": a.filename, "mimetype": a.mimetype, "size": len(a.content)}
        for a in email.attachments
    ]
    return outline
