"""What a delivery-log record keeps of a message and of an attempt, as JSON."""

from __future__ import annotations

from typing import Any

from mailer.stores.delivery_search import Attempt

_MAX_ERROR_CHARS = 500


def kept_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope as a re-render needs it: an attachment's name, type and size, not its
    content, which a month of records would otherwise hold in Redis."""
    attachments = [
        {"filename": a.get("filename"), "mimetype": a.get("mimetype"), "size": len(a["content"])}
        for a in envelope.get("attachments", [])
        if isinstance(a, dict) and isinstance(a.get("content"), str)
    ]
    return {**envelope, "attachments": attachments} if attachments else envelope


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    data = {k: v for k, v in attempt.__dict__.items() if v is not None}
    if "error" in data:
        data["error"] = str(data["error"])[:_MAX_ERROR_CHARS]
    return data
