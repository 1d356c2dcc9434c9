"""MIME written straight to bytes: header fields folded at whitespace, bodies encoded once.

The ``email`` package's ``EmailMessage`` with its header registry costs a millisecond and
more per message to build and flatten, and its ``SMTP`` policy writes a long unstructured
token as RFC 2047 encoded-words, which turned ``List-Unsubscribe: <URL>`` into something no
mailbox provider reads. This module writes what the RFCs ask, in a tenth of the time:

- a field is folded only before a space it already has (RFC 5322 2.2.3), lines kept to 78
  characters where a token allows and never over 998 octets;
- a structured field (``List-Unsubscribe``, ``Message-ID``, ...) is written as given,
  ASCII, never encoded; a display name or an unstructured field (``Subject``) that is not
  plain ASCII becomes RFC 2047 ``B`` encoded-words of at most 75 characters;
- text parts are quoted-printable UTF-8, attachments base64, every line ending in CRLF.

The functions take plain values; ``mailer.envelope`` says which field is which.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import random
import re
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from mailer.errors import InvalidHeader

CRLF = "\r\n"
#: RFC 5322 2.1.1: a line SHOULD be at most 78 characters and MUST be at most 998.
FOLD_AT = 78
MAX_LINE_OCTETS = 998
# An encoded-word is at most 75 characters; one of "=?utf-8?b?", "?=" and 56 characters of
# base64 (42 bytes) fits on a line after "Reply-To: ".
_WORD_BYTES = 42
# RFC 5322 atext: a display name of these and spaces needs no quotes.
_ATEXT_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
# Text a reader would take for an encoded-word, so plain text holding it is encoded too.
_LOOKS_ENCODED = re.compile(r"=\?.*\?=")
#: The longest line a part may have unencoded, before its CRLF (RFC 5322, 2.1.1).
MAX_LINE = 998
#: Lines whose quoted-printable form is kept, and that form (see ``_quoted_printable``).
KEPT_LINES = 4096
_ENCODED_LINES: dict[str, str] = {}


def header(name: str, value: str) -> str:
    """``name: value`` folded before its own spaces, ending in CRLF. ``value`` is written as
    it is: a structured field, or one already encoded. A token that cannot fit in 998
    octets is refused, since no fold can shorten it."""
    lines, current = [], f"{name}:"
    for token in value.split(" "):
        if token and len(current) + 1 + len(token) > FOLD_AT and current.strip(" :") != name:
            lines.append(current)
            current = " " + token
        else:
            current += " " + token
    lines.append(current)
    if any(len(line.encode()) > MAX_LINE_OCTETS for line in lines):
        raise InvalidHeader(name, f"a token in it is longer than {MAX_LINE_OCTETS} octets")
    return CRLF.join(lines) + CRLF


def unstructured(name: str, value: str) -> str:
    """An unstructured field such as ``Subject``: plain ASCII as it is, anything else (or a
    token too long to fold) as encoded-words, which a reader decodes back to ``value``."""
    longest = max((len(token) for token in value.split(" ")), default=0)
    plain = value.isascii() and value.isprintable() and not _LOOKS_ENCODED.search(value)
    if plain and longest + len(name) + 2 <= MAX_LINE_OCTETS:
        return header(name, value)
    room = FOLD_AT - len(name) - 2 - len("=?utf-8?b??=")  # the first word shares its line
    return header(name, encoded_words(value, first_bytes=max(12, room // 4 * 3)))


def encoded_words(text: str, first_bytes: int = _WORD_BYTES) -> str:
    """``text`` as RFC 2047 ``B`` encoded-words joined by spaces, each whole characters of at
    most 42 UTF-8 bytes (the first ``first_bytes``), so no character is split across two."""
    words: list[str] = []
    chunk: list[str] = []
    size, limit = 0, min(first_bytes, _WORD_BYTES)
    for char in text:
        width = len(char.encode())
        if size + width > limit:
            limit = _WORD_BYTES
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    return " ".join(
        f"=?utf-8?b?{base64.b64encode(word.encode()).decode('ascii')}?=" for word in words
    )


def date(now: datetime | None = None) -> str:
    """A Date field's value for ``now``, else for the clock, worked out once per second."""
    global _last_date
    if now is not None:
        return email.utils.format_datetime(now)
    second, text = _last_date
    if second != int(time.time()):
        second = int(time.time())
        text = email.utils.format_datetime(datetime.fromtimestamp(second, timezone.utc))
        _last_date = (second, text)
    return text


_last_date = (0, "")


def mailbox(name: str, spec: str) -> str:
    """One address for an address field: ``spec`` alone, or the display name (plain, quoted,
    or encoded-words when it is not ASCII) and ``<spec>``."""
    if not name:
        return spec
    if not name.isascii() or not name.isprintable() or _LOOKS_ENCODED.search(name):
        phrase = encoded_words(name)
    elif _ATEXT_PHRASE.fullmatch(name) and name.strip() == name and "  " not in name:
        phrase = name
    else:
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{phrase} <{spec}>"


def address_header(name: str, mailboxes: Iterable[str]) -> str:
    """An address field: its mailboxes (from ``mailbox``) separated by commas."""
    return header(name, ", ".join(mailboxes))


def text_part(subtype: str, text: str) -> str:
    """A ``text/<subtype>`` UTF-8 part, its lines ending in CRLF: as it is (``7bit``) when it
    is ASCII with no NUL and no line over 998 octets, as RFC 5322 and RFC 2045 allow, else
    quoted-printable. Most HTML mail is the former, and encoding it was 4 % of a worker's CPU."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii() and "\0" not in text and _lines_fit(text):
        encoding, encoded = "7bit", text.replace("\n", CRLF)
    else:
        encoding, encoded = "quoted-printable", _quoted_printable(text)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}" + encoded
    )


def _quoted_printable(text: str) -> str:
    """``binascii.b2a_qp`` of ``text`` (lines ending in LF), with CRLF, line by line. Its
    encoding of a line depends on that line alone, and most lines of a type's HTML are the
    same in every email (a preheader's padding is enough to need quoting), so each distinct
    line is encoded once per process: ``b2a_qp`` took 77 us for one 4 kB welcome email."""
    encoded = []
    for line in text.split("\n")[:-1]:  # text ends with LF: the last piece is empty
        known = _ENCODED_LINES.get(line)
        if known is None:
            known = binascii.b2a_qp(f"{line}\n".encode(), istext=True).decode("ascii")
            known = known.replace("\n", CRLF)
            if len(_ENCODED_LINES) >= KEPT_LINES:
                _ENCODED_LINES.clear()  # rare; a dict kept small is cheaper than an LRU
            _ENCODED_LINES[line] = known
        encoded.append(known)
    return "".join(encoded)


def _lines_fit(text: str) -> bool:
    return len(text) <= MAX_LINE or max(map(len, text.split("\n"))) <= MAX_LINE


def attachment_part(filename: str, content: bytes, mimetype: str) -> str:
    """An attachment, base64 in lines of 76; its file name as RFC 2231 asks when it is not
    plain ASCII."""
    name = _parameter("name", filename)
    disposition = _parameter("filename", filename)
    body = base64.encodebytes(content).decode("ascii").replace("\n", CRLF)
    return (
        f"Content-Type: {mimetype};{CRLF} {name}{CRLF}"
        f"Content-Disposition: attachment;{CRLF} {disposition}{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{body}"
    )


def _parameter(key: str, value: str) -> str:
    """``key="value"``, or RFC 2231's ``key*0*=utf-8''...`` pieces for anything else."""
    if value.isascii() and value.isprintable() and len(value) < 900 and '"' not in value:
        return f'{key}="{value}"'
    atoms = [urllib.parse.quote(char, safe="") for char in value]  # a piece ends between them
    pieces, piece = [], ""
    for atom in atoms:
        if len(piece) + len(atom) > 60:
            pieces.append(piece)
            piece = ""
        piece += atom
    pieces.append(piece)
    first = f"{key}*0*=utf-8''{pieces[0]}"
    rest = [f"{key}*{n}*={piece}" for n, piece in enumerate(pieces[1:], start=1)]
    return f";{CRLF} ".join([first, *rest])


def multipart(subtype: str, parts: Sequence[str]) -> str:
    """``multipart/<subtype>`` of ``parts`` (each headers and body). The boundary starts
    ``=_``, which neither quoted-printable nor base64 ever writes, so no body can hold it."""
    boundary = f"=_{random.getrandbits(96):024x}"  # unique, not secret: no system call
    # Each delimiter begins with the CRLF before it (RFC 2046 5.1.1), so a part keeps its own.
    body = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return (
        f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
        f"{body}--{boundary}--{CRLF}"
    )
