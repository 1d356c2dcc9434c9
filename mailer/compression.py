"""zlib compression of a short text without letting go of the interpreter lock.

Python's ``zlib.compress`` lets go of the lock around every call, however small the input. On a
worker whose threads are busy rendering, the compressing thread then queues to take it back:
two thread switches, for a compression of half a kilobyte that takes a few microseconds. The
delivery log compresses each email's content as it settles, so that was paid once per email.

Here a short input goes to zlib's own ``compress2`` through ``ctypes.PyDLL``, which keeps the
lock: the same library Python's ``zlib`` module uses, and the same stream as
``zlib.compress(data, level)`` (zlib's defaults for the window and memory either way), which
``zlib.decompress`` reads as ever. A long input, or a build without that symbol to find, goes
through ``zlib.compress``: a long compression should let the other threads run.
"""

from __future__ import annotations

import ctypes
import zlib
from typing import Any

#: The longest input compressed with the lock held: about a hundred microseconds at level 1.
MAX_HELD = 65536
_OK = 0


def _compress2() -> tuple[Any, Any] | None:
    """zlib's ``compress2`` and ``compressBound``, from the library Python's ``zlib`` module
    is built on (its own file, or the interpreter's where it is built in); None if not found."""
    try:
        library = ctypes.PyDLL(getattr(zlib, "__file__", None))
        compress2, bound = library.compress2, library.compressBound
    except (OSError, TypeError, AttributeError):
        return None
    size, text = ctypes.c_ulong, ctypes.c_char_p
    compress2.argtypes = [text, ctypes.POINTER(size), text, size, ctypes.c_int]
    compress2.restype = ctypes.c_int
    bound.argtypes, bound.restype = [size], size
    return compress2, bound


_ZLIB = _compress2()


def compressed(data: bytes, level: int) -> bytes:
    """``zlib.compress(data, level)``, with the lock held when ``data`` is short."""
    if _ZLIB is None or len(data) > MAX_HELD:
        return zlib.compress(data, level)
    compress2, bound = _ZLIB
    size = ctypes.c_ulong(bound(len(data)))
    out = ctypes.create_string_buffer(size.value)
    if compress2(out, ctypes.byref(size), data, len(data), level) != _OK:
        return zlib.compress(data, level)  # it raises, or does it, as Python's own would
    return out.raw[: size.value]
