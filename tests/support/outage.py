"""What outage tests read back: which message ids an SMTP server got, and how often, and
the part of a worker's log worth showing when one fails."""

from __future__ import annotations

import collections
from collections.abc import Iterable

from tests.support.api_process import call_api
from tests.support.smtp_server import SMTPSink


def received_ids(sink: SMTPSink) -> collections.Counter[str]:
    """mailer's message id of each accepted email (its Message-ID is ``<id@domain>``)."""
    return collections.Counter(
        str(r.message["Message-ID"]).strip("<>").split("@")[0] for r in sink.messages
    )


def statuses(redis_url: str, message_ids: Iterable[str]) -> dict[str, str | None]:
    """Each message's status in the delivery log, read through ``mailer.delivery_status``."""
    ids = list(message_ids)
    found = call_api(redis_url, [("delivery_status", (m,), {}) for m in ids])
    return {m: None if d is None else d["status"] for m, d in zip(ids, found, strict=True)}


def log_excerpt(log: str, message_ids: Iterable[str] = (), limit: int = 40) -> str:
    """What a failure shows: every line naming one of ``message_ids``, then the worker's last
    ``limit`` warnings and errors, in the order they were written."""
    lines = log.splitlines()
    ids = list(message_ids)
    naming = [line for line in lines if any(m in line for m in ids)]
    troubles = [line for line in lines if any(f"[{level}]" in line for level in _TROUBLE)]
    return "\n".join(["--- naming them:", *naming, "--- last troubles:", *troubles[-limit:]])


_TROUBLE = ("WARNING", "ERROR", "CRITICAL")
