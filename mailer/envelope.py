"""The one email type: what the queue carries as JSON and what backends turn into MIME.

An ``Email`` travels twice: as JSON on the queue (attachments base64-encoded, so a message is
plain data any worker can decode) and as MIME to the provider. The Message-ID derives from
mailer's message id, so every retry of one send carries the same Message-ID and receiving
systems can drop a duplicate.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from mailer.addresses import addr_spec, display_name
from mailer.errors import AttachmentTooLarge, InvalidAttachment, InvalidHeader

# RFC 5322 field names: printable ASCII except space and colon.
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")
# Headers the message builds itself; setting them by hand would produce duplicates.
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "message-id",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)

# What to do instead of setting each of those headers by hand.
_INSTEAD = {
    "subject": "the subject comes from the template's subject.txt "
    "(templates/<type>/subject.txt); put what varies in the context",
    "from": "pass from_email=...",
    "to": "pass the recipients as to=...",
    "cc": "pass cc=...",
    "bcc": "pass bcc=...",
    "reply-to": "pass reply_to=...",
    **dict.fromkeys(
        ("message-id", "date", "mime-version", "content-type", "content-transfer-encoding"),
        "it is built from the message itself and cannot be set",
    ),
}
assert _INSTEAD.keys() == _RESERVED_HEADERS


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


@dataclass
class Email:
    """A message ready to send: rendered content plus the envelope around it."""

    to: list[str]
    from_email: str
    subject: str = ""
    text: str = ""
    html: str | None = None
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None

    @property
    def recipients(self) -> list[str]:
        """Every envelope recipient, bare addresses, Bcc included."""
        return [addr_spec(address) for address in (*self.to, *self.cc, *self.bcc)]

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _JSON_FIELDS}
        data["attachments"] = [attachment.to_json() for attachment in self.attachments]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Email:
        values = {name: data[name] for name in _JSON_FIELDS if name in data}
        attachments = [Attachment.from_json(item) for item in data.get("attachments", [])]
        return cls(**values, attachments=attachments)

    def to_mime(self, *, now: datetime | None = None) -> EmailMessage:
        """A standards-correct MIME message: text + html alternatives, mixed with attachments.

        Bcc is left out of the headers on purpose: it lives only in the envelope.
        """
        international = any(
            not address.isascii() for address in [*self.recipients, addr_spec(self.from_email)]
        )
        message = EmailMessage(policy=email.policy.SMTPUTF8 if international else email.policy.SMTP)
        message["From"] = _header_address(self.from_email)
        message["To"] = [_header_address(address) for address in self.to]
        if self.cc:
            message["Cc"] = [_header_address(address) for address in self.cc]
        if self.reply_to:
            message["Reply-To"] = [_header_address(address) for address in self.reply_to]
        message["Subject"] = self.subject
        message["Date"] = email.utils.format_datetime(now or datetime.now(timezone.utc))
        message["Message-ID"] = self.message_id_header()
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text or "", cte="quoted-printable")
        if self.html is not None:
            message.add_alternative(self.html, subtype="html", cte="quoted-printable")
        for attachment in self.attachments:
            maintype, _, subtype = attachment.mimetype.partition("/")
            message.add_attachment(
                attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
            )
        return message

    def message_id_header(self) -> str:
        """``<id@sender-domain>``: the same for every retry of one send."""
        domain = addr_spec(self.from_email).rpartition("@")[2]
        if self.message_id is None:
            return email.utils.make_msgid(domain=domain)
        return f"<{self.message_id}@{domain}>"


_JSON_FIELDS = (
    "to",
    "from_email",
    "subject",
    "text",
    "html",
    "cc",
    "bcc",
    "reply_to",
    "headers",
    "tags",
    "metadata",
    "message_id",
)


def _header_address(address: str) -> Address | str:
    spec = addr_spec(address)
    local, _, domain = spec.rpartition("@")
    if not local.isascii():
        return address  # an SMTPUTF8 address: the header carries it as UTF-8, verbatim
    return Address(display_name=display_name(address), username=local, domain=domain)


def check_headers(headers: object) -> dict[str, str]:
    """Extra headers as given by a caller: valid field names, string values, no CR/LF."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidHeader("headers", f"expected a mapping, got {type(headers).__name__}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise InvalidHeader("headers", f"{name!r} is not a valid header field name")
        if name.lower() in _RESERVED_HEADERS:
            raise InvalidHeader("headers", f"{name!r} is set by mailer: {_INSTEAD[name.lower()]}")
        if not isinstance(value, str):
            raise InvalidHeader("headers", f"the value of {name!r} must be a string")
        if "\r" in value or "\n" in value:
            raise InvalidHeader("headers", f"the value of {name!r} may not contain CR or LF")
        checked[name] = value
    return checked


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
