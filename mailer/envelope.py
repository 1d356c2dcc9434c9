"""The one email type: what the queue carries as JSON and what backends turn into MIME.

An ``Email`` travels twice: as JSON on the queue (attachments base64-encoded, so a message is
plain data any worker can decode) and as MIME to the provider. The Message-ID derives from
mailer's message id, so every retry of one send carries the same Message-ID and receiving
systems can drop a duplicate.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from mailer import mime
from mailer.addresses import addr_spec, display_name
from mailer.attachments import Attachment, AttachmentLike, check_attachments
from mailer.errors import InvalidHeader

__all__ = [
    "STRUCTURED_HEADERS",
    "Attachment",
    "AttachmentLike",
    "Email",
    "check_attachments",
    "check_headers",
]

# RFC 5322 field names: printable ASCII except space and colon.
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")
#: Fields whose value is structured: written as given, never encoded (``mailer.mime``).
STRUCTURED_HEADERS = frozenset(
    {"list-unsubscribe", "list-unsubscribe-post", "list-id", "in-reply-to", "references"}
)
# Parsing back what ``to_bytes`` wrote: flattened again, its lines stay as they were.
_READ_BACK = email.policy.SMTP.clone(refold_source="none")
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

    def to_bytes(self, *, now: datetime | None = None) -> bytes:
        """The message as it goes on the wire: text + html alternatives, mixed with
        attachments, every header correct as ``mailer.mime`` writes it, CRLF line ends.

        Bcc is left out of the headers on purpose: it lives only in the envelope.
        """
        fields = [mime.address_header("From", [_mailbox(self.from_email)])]
        for name, addresses in (("To", self.to), ("Cc", self.cc), ("Reply-To", self.reply_to)):
            if addresses:
                fields.append(mime.address_header(name, map(_mailbox, addresses)))
        fields += [
            mime.unstructured("Subject", self.subject),
            mime.header("Date", mime.date(now)),
            mime.header("Message-ID", self.message_id_header()),
        ]
        for name, value in self.headers.items():
            structured = name.lower() in STRUCTURED_HEADERS
            fields.append(
                mime.header(name, value) if structured else mime.unstructured(name, value)
            )
        body = mime.text_part("plain", self.text or "")
        if self.html is not None:
            body = mime.multipart("alternative", [body, mime.text_part("html", self.html)])
        if self.attachments:
            files = [
                mime.attachment_part(a.filename, a.content, a.mimetype) for a in self.attachments
            ]
            body = mime.multipart("mixed", [body, *files])
        return "".join([*fields, "MIME-Version: 1.0\r\n", body]).encode()

    def to_mime(self, *, now: datetime | None = None) -> EmailMessage:
        """``to_bytes`` parsed back, for reading a header or a part; flattened again it gives
        the same bytes."""
        message = email.message_from_bytes(self.to_bytes(now=now), policy=_READ_BACK)
        assert isinstance(message, EmailMessage)
        return message

    @property
    def international(self) -> bool:
        """Whether an address is not ASCII, so the server must speak SMTPUTF8."""
        return not all(address.isascii() for address in [*self.recipients, self.from_email])

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


def _mailbox(address: str) -> str:
    # A non-ASCII address goes as UTF-8, verbatim (RFC 6532): the server speaks SMTPUTF8.
    return mime.mailbox(display_name(address), addr_spec(address))


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
        if name.lower() in STRUCTURED_HEADERS and not _foldable_ascii(name, value):
            raise InvalidHeader("headers", f"{name!r} must be ASCII with no word over 990 octets")
        checked[name] = value
    return checked


def _foldable_ascii(name: str, value: str) -> bool:
    """Whether a structured field can go as it is: ASCII, each word short enough to fold."""
    longest = max(len(word) for word in value.split(" "))
    return value.isascii() and longest + len(name) + 2 <= mime.MAX_LINE_OCTETS
