"""Attachments: a file's name, bytes and MIME type, as the caller gives them and as they travel
in a message's JSON, checked at the call site against the total cap."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mailer.errors import AttachmentTooLarge, InvalidAttachment

__all__ = ["Attachment", "AttachmentLike", "check_attachments"]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"

    def to_json(self) -> dict[str, str]:
        return {
            "filename": self.filename,
            "content": base64.b64encode(self.content).decode("ascii"),
            "mimetype": self.mimetype,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> Attachment:
        return cls(data["filename"], base64.b64decode(data["content"]), data["mimetype"])


AttachmentLike = Attachment | tuple[str, bytes | str, str]


def check_attachments(attachments: object, max_total_bytes: int) -> list[Attachment]:
    """Attachments as ``Attachment`` or ``(filename, bytes_or_str, mimetype)`` within the cap."""
    if attachments is None:
        return []
    if not isinstance(attachments, Sequence) or isinstance(attachments, (str, bytes)):
        raise InvalidAttachment("attachments", "expected a list of (filename, content, mimetype)")
    checked = [_coerce_attachment(item) for item in attachments]
    total = sum(len(attachment.content) for attachment in checked)
    if total > max_total_bytes:
        raise AttachmentTooLarge(
            "attachments", f"{total} bytes in all, over the limit of {max_total_bytes} bytes"
        )
    return checked


def _coerce_attachment(item: object) -> Attachment:
    if isinstance(item, Attachment):
        filename, content, mimetype = item.filename, item.content, item.mimetype
    elif isinstance(item, tuple) and len(item) == 3:
        filename, content, mimetype = item
    else:
        raise InvalidAttachment(
            "attachments", f"expected (filename, content, mimetype), got {item!r:.60}"
        )
    if (
        not isinstance(filename, str)
        or not filename.strip()
        or "\r" in filename
        or "\n" in filename
    ):
        raise InvalidAttachment("attachments", f"invalid filename {filename!r:.60}")
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, bytes):
        raise InvalidAttachment("attachments", f"content of {filename!r} must be bytes or str")
    if not isinstance(mimetype, str) or not re.fullmatch(r"[\w.+-]+/[\w.+-]+", mimetype):
        raise InvalidAttachment("attachments", f"invalid MIME type {mimetype!r} for {filename!r}")
    return Attachment(filename, content, mimetype)
