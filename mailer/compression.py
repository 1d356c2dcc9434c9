"""zlib compression of a short text, made small and without letting go of the interpreter lock.

The delivery log compresses each email's content as it settles: half a kilobyte or so, a few
microseconds of work. Python's ``zlib.compress`` cost a worker several times that, two ways:

- it lets go of the lock for any input, so on a worker whose threads are busy rendering the
  compressing thread queues to take it back: two thread switches per email;
- it sets zlib up with its defaults, a 32 KiB window and about 256 KiB of state, allocated and
  partly cleared on every call: room for megabytes, for an input of half a kilobyte, and a
  quarter of a megabyte of other threads' data pushed out of the processor's caches.

Here a short input is compressed by zlib itself, called through ``ctypes.PyDLL`` (which keeps
the lock), from the library Python's ``zlib`` module is built on, with a 4 KiB window and a
smaller hash table: about 30 KiB of state, and output as small as the defaults' for the
contents of the shipped types. It is an ordinary zlib stream; ``zlib.decompress`` reads it as
ever. A long input, or a build where zlib's functions cannot be found or disagree with the
layout below, goes through ``zlib.compress``: a long compression should let the other threads
run.
"""

from __future__ import annotations

import ctypes
import zlib
from typing import Any

#: The longest input compressed with the lock held: about a hundred microseconds at level 1.
MAX_HELD = 65536
#: A 4 KiB window and a hash table of 2,048 entries (zlib's defaults: 32 KiB and 32,768).
WINDOW_BITS = 12
MEMORY_LEVEL = 4
_FINISH, _OK, _STREAM_END = 4, 0, 1


class _Stream(ctypes.Structure):
    """zlib's ``z_stream``, as ``zlib.h`` declares it; ``deflateInit2_`` checks its size."""

    _fields_ = [
        ("next_in", ctypes.c_char_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    ]


def _zlib() -> tuple[Any, bytes] | None:
    """The library Python's ``zlib`` module is built on (its own file, or the interpreter's
    where it is built in), its functions typed, and its version (``deflateInit2_`` checks
    it); None if they are not to be found."""
    try:
        library = ctypes.PyDLL(getattr(zlib, "__file__", None))
        functions = (library.deflateInit2_, library.deflateBound, library.deflate)
        library.deflateEnd.argtypes = [ctypes.POINTER(_Stream)]
        library.zlibVersion.restype = ctypes.c_char_p
        version = library.zlibVersion()
    except (OSError, TypeError, AttributeError, ValueError):
        return None
    stream, number = ctypes.POINTER(_Stream), ctypes.c_int
    init, bound, deflate = functions
    init.argtypes = [stream, number, number, number, number, number, ctypes.c_char_p, number]
    init.restype = deflate.restype = number
    bound.argtypes, bound.restype = [stream, ctypes.c_ulong], ctypes.c_ulong
    deflate.argtypes = [stream, number]
    return library, version


_ZLIB = _zlib()


def compressed(data: bytes, level: int) -> bytes:
    """``data`` compressed at ``level`` as a zlib stream, with the lock held when it is short."""
    if _ZLIB is None or len(data) > MAX_HELD:
        return zlib.compress(data, level)
    (library, version), stream = _ZLIB, _Stream()
    started = library.deflateInit2_(
        stream,
        level,
        zlib.DEFLATED,
        WINDOW_BITS,
        MEMORY_LEVEL,
        zlib.Z_DEFAULT_STRATEGY,
        version,
        ctypes.sizeof(_Stream),
    )
    if started != _OK:  # a bad level, or a zlib whose z_stream is not the one above
        return zlib.compress(data, level)  # which raises, or compresses, as Python's own would
    try:
        out = ctypes.create_string_buffer(library.deflateBound(stream, len(data)))
        stream.next_in, stream.avail_in = data, len(data)
        stream.next_out, stream.avail_out = ctypes.addressof(out), len(out)
        if library.deflate(stream, _FINISH) != _STREAM_END:  # the bound is room enough
            return zlib.compress(data, level)
        return out.raw[: stream.total_out]
    finally:
        library.deflateEnd(stream)
