"""zlib compression with the interpreter lock held (``mailer.compression``): the same stream
as ``zlib.compress``, and Python's own call for what should not hold the lock."""

from __future__ import annotations

import ctypes
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer import compression
from mailer.compression import MAX_HELD, compressed


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=4096), level=st.sampled_from([-1, 0, 1, 6, 9]))
def test_the_stream_is_zlibs_own(data: bytes, level: int) -> None:
    out = compressed(data, level)
    assert out == zlib.compress(data, level)
    assert zlib.decompress(out) == data


def test_a_short_input_is_compressed_without_letting_go_of_the_lock() -> None:
    assert compression._ZLIB is not None, "zlib's compress2 is found on this platform"
    compress2, _bound = compression._ZLIB
    # A PyDLL function: ctypes calls it with the lock held, where a CDLL one lets it go.
    assert compress2._flags_ & ctypes._FUNCFLAG_PYTHONAPI


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
