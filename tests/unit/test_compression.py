"""zlib compression with the interpreter lock held and a small window (``mailer.compression``):
an ordinary zlib stream, and Python's own call for what should not hold the lock."""

from __future__ import annotations

import ctypes
import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer import compression
from mailer.compression import MAX_HELD, WINDOW_BITS, compressed


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=20_000), level=st.sampled_from([-1, 0, 1, 6, 9]))
def test_zlib_reads_back_what_was_compressed(data: bytes, level: int) -> None:
    assert zlib.decompress(compressed(data, level)) == data


def test_a_short_input_is_compressed_in_a_small_window_keeping_the_lock() -> None:
    assert compression._ZLIB is not None, "zlib's functions are found on this platform"
    library, _version = compression._ZLIB
    # PyDLL functions: ctypes calls them with the lock held, where CDLL ones let it go.
    holds_the_lock: int = getattr(ctypes, "_FUNCFLAG_PYTHONAPI")  # noqa: B009  # private
    assert library.deflate._flags_ & holds_the_lock
    assert library.deflateInit2_._flags_ & holds_the_lock
    content = json.dumps({"context": {"name": "User 4", "url": "https://app.example.com/"}})
    out = compressed(content.encode(), 1)
    assert out[0] == (WINDOW_BITS - 8) << 4 | zlib.DEFLATED  # the header names the window
    assert out != zlib.compress(content.encode(), 1)  # which names zlib's default, 32 KiB


def test_a_long_input_goes_through_pythons_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = zlib.compress

    def counted(data: bytes, level: int = -1) -> bytes:
        calls.append(len(data))
        return real(data, level)

    monkeypatch.setattr(zlib, "compress", counted)
    text = b"a delivery log's content " * 4
    assert zlib.decompress(compressed(text, 1)) == text
    assert calls == []
    long = b"x" * (MAX_HELD + 1)
    assert zlib.decompress(compressed(long, 1)) == long
    assert calls == [MAX_HELD + 1]


def test_a_bad_level_is_refused_as_zlib_refuses_it() -> None:
    with pytest.raises(zlib.error):
        compressed(b"content", 42)
