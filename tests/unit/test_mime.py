"""The bytes ``Email.to_bytes`` writes, read back with ``email.policy.strict``."""

from __future__ import annotations

import binascii
import email
import email.policy
import re
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer import mime
from mailer.envelope import Attachment, Email, check_headers
from mailer.errors import InvalidHeader

URL = "https://app.example.com/unsubscribe/" + "dXNlcjIxOTNAZXhhbXBsZS5jb20" * 4


def strict(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.strict)
    assert isinstance(parsed, EmailMessage)
    for part in parsed.walk():
        assert part.defects == []
    return parsed


def raw_headers(raw: bytes) -> list[bytes]:
    """Each header field unfolded, as a reader sees it."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return re.sub(rb"\r\n(?=[ \t])", b"", head).split(b"\r\n")


def news(**overrides: object) -> Email:
    values: dict[str, object] = {
        "to": ['"Zoë, Ann" <ann@example.com>', "plain@example.com"],
        "from_email": "Café Shop <shop@example.com>",
        "subject": "Grüße — " + "a long subject that goes on and on " * 4 + "✓",
        "text": "Hello Zoë,\n" + "x" * 300 + "\n. a line with a dot\n",
        "html": "<p>Hello Zoë</p>",
        "headers": {
            "List-Unsubscribe": f"<{URL}>, <mailto:unsubscribe@example.com?subject=u>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Note": "naïve " + "word " * 30,
        },
        "message_id": "0a1b2c3d-0000-4000-8000-000000000001",
    }
    values.update(overrides)
    return Email(**values)  # type: ignore[arg-type]


def test_structured_headers_go_as_given_folded_only_at_their_spaces() -> None:
    raw = news().to_bytes()
    fields = dict(line.split(b": ", 1) for line in raw_headers(raw))
    assert (
        fields[b"List-Unsubscribe"]
        == f"<{URL}>, <mailto:unsubscribe@example.com?subject=u>".encode()
    )
    assert fields[b"List-Unsubscribe-Post"] == b"List-Unsubscribe=One-Click"
    assert fields[b"Message-ID"] == b"<0a1b2c3d-0000-4000-8000-000000000001@example.com>"
    assert b"=?" not in b"".join(
        line for line in raw_headers(raw) if line.startswith((b"List-", b"Message-ID"))
    )
    parsed = strict(raw)
    assert parsed["List-Unsubscribe"].startswith(f"<{URL}>")


def test_utf8_names_and_subject_are_encoded_words_and_read_back() -> None:
    message = news()
    raw = message.to_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    parsed = strict(raw)
    assert parsed["Subject"] == message.subject
    assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [
        ("Zoë, Ann", "ann@example.com"),
        ("", "plain@example.com"),
    ]
    assert parsed["From"].addresses[0].display_name == "Café Shop"
    assert parsed["X-Note"] == message.headers["X-Note"]


@pytest.mark.parametrize("name", ['Ann "Nan" O\'Neil', "Dr. A. Smith", "Smith, Ann", "Ann Lee"])
def test_ascii_display_names_with_specials_are_quoted(name: str) -> None:
    line = mime.mailbox(name, "x@example.com")
    assert line.startswith('"') == (name != "Ann Lee")
    parsed = strict(
        Email(to=[f"{mime.mailbox(name, 'x@example.com')}"], from_email="a@b.org").to_bytes()
    )
    assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [
        (name, "x@example.com")
    ]


def test_every_line_ends_in_crlf_and_stays_within_the_limits() -> None:
    pdf = Attachment("facture été " * 20 + ".pdf", bytes(range(256)) * 40, "application/pdf")
    raw = news(attachments=[pdf]).to_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in head if b"List-Unsubscribe:" not in line)
    assert not any(line.strip() == b"" for line in head), "no whitespace-only folded line"
    parsed = strict(raw)
    body, attachment = parsed.iter_parts()
    assert attachment.get_filename() == pdf.filename
    assert attachment.get_content() == pdf.content
    text, html = body.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == news().text
    assert "Hello Zoë" in html.get_content()


def test_a_token_too_long_for_any_line_is_refused() -> None:
    with pytest.raises(InvalidHeader):
        mime.header("List-Unsubscribe", "<https://x/" + "a" * 1000 + ">")
    with pytest.raises(InvalidHeader, match="List-Unsubscribe"):
        check_headers({"List-Unsubscribe": "<https://x/" + "a" * 1000 + ">"})
    with pytest.raises(InvalidHeader, match="ASCII"):
        check_headers({"List-Unsubscribe": "<https://exämple.com/u>"})
    long_word = "y" * 1200
    assert strict(news(subject=long_word).to_bytes())["Subject"] == long_word


def test_a_plain_word_that_looks_encoded_is_kept_as_written() -> None:
    subject = "about =?utf-8?q?this?= syntax"
    assert strict(news(subject=subject).to_bytes())["Subject"] == subject


def test_to_mime_flattens_back_to_the_same_bytes() -> None:
    message = news()
    raw = message.to_bytes()
    again = message.to_mime().as_bytes()
    strip_date = re.compile(rb"Date: [^\r]*|boundary=\"[^\"]*\"|--=_[0-9a-f]+")
    assert strip_date.sub(b"", again) == strip_date.sub(b"", raw)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("<p>Hello Ann</p>\n" + "<td style='color: red'>x</td>" * 30 + "\n.dot\n", "7bit"),
        ("<p>" + "x" * mime.MAX_LINE + "</p>", "quoted-printable"),  # a line too long
        ("<p>Hello Zoë</p>", "quoted-printable"),  # not ASCII
        ("<p>a\0b</p>", "quoted-printable"),  # NUL: not 7bit data (RFC 2045, 2.7)
    ],
    ids=["ascii", "long-line", "utf-8", "nul"],
)
def test_a_text_part_goes_as_it_is_only_when_7bit_allows(text: str, encoding: str) -> None:
    raw = Email(to=["ann@example.com"], from_email="shop@example.com", subject="Hi", html=text)
    wire = raw.to_bytes()
    assert max(len(line) for line in wire.split(b"\r\n")) <= mime.MAX_LINE
    _, html = strict(wire).iter_parts()
    assert html["Content-Transfer-Encoding"] == encoding
    assert html.get_content().replace("\r\n", "\n") == text.removesuffix("\n") + "\n"


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n")),
        max_size=8,
    )
)
def test_quoting_line_by_line_is_quoting_the_whole(lines: list[str]) -> None:
    text = "".join(f"{line}\n" for line in lines * 2)  # every line twice: the second is kept
    whole = binascii.b2a_qp(text.encode(), istext=True).decode("ascii").replace("\n", "\r\n")
    assert mime._quoted_printable(text) == whole


def test_the_kept_lines_stay_few_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mime, "KEPT_LINES", 3)
    monkeypatch.setattr(mime, "_ENCODED_LINES", {})
    text = "".join(f"Grüße {n} {'=' * n}\n" for n in range(10)) * 2
    whole = binascii.b2a_qp(text.encode(), istext=True).decode("ascii").replace("\n", "\r\n")
    assert mime._quoted_printable(text) == whole
    assert len(mime._ENCODED_LINES) <= 3
