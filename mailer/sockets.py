"""Socket calls that cannot wait, made without letting go of the interpreter lock.

CPython lets go of the lock around every socket call, in case it waits. A call that cannot
wait (a peek, a read of what has arrived already, a short write into a socket buffer with
room to spare) gains nothing from
that, and on a worker whose threads are busy rendering it costs two thread switches: the
lock goes to another thread, and this one queues to take it back. A worker makes several
such calls per email to Redis and to the SMTP server.

Here those calls go to libc through ``ctypes.PyDLL``, which keeps the lock, with
``MSG_DONTWAIT`` so they never wait. Whatever they cannot do at once (a full buffer, an
error, a platform without ``dlopen(NULL)``) is left to the socket's usual call, which then
waits or raises exactly as it always did.
"""

from __future__ import annotations

import ctypes
import errno
import socket
from typing import Any

#: Longest write tried with the lock held: copying it into the socket takes microseconds.
MAX_QUICK_SEND = 65536
_NOTHING_YET = (errno.EAGAIN, errno.EWOULDBLOCK)
# Plain ints: OR-ing socket's flag enums on every call costs more than the call.
_DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0))
_PEEK_NOW = int(socket.MSG_PEEK) | _DONTWAIT
_SEND_NOW = _DONTWAIT | int(getattr(socket, "MSG_NOSIGNAL", 0))  # an error code, not SIGPIPE


def _libc(name: str, buffer_type: Any) -> Any:
    """libc's ``recv`` or ``send``, called with the interpreter lock held; None where there is
    no such library to load, or no way to ask a call not to wait."""
    try:
        function = getattr(ctypes.PyDLL(None, use_errno=True), name)
    except (OSError, TypeError, AttributeError):  # Windows: no dlopen(NULL)
        return None
    function.argtypes = [ctypes.c_int, buffer_type, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_ssize_t
    return function if _DONTWAIT else None


_RECV = _libc("recv", ctypes.c_void_p)
_SEND = _libc("send", ctypes.c_char_p)
_PEEKED = ctypes.create_string_buffer(1)  # one byte, never read: only the lock's holder peeks


def nothing_to_read(sock: socket.socket) -> bool:
    """True when the socket has no data and no end-of-stream waiting. False means: read it
    the usual way to find out."""
    if _RECV is None:
        return False
    peeked = _RECV(sock.fileno(), _PEEKED, 1, _PEEK_NOW)
    return bool(peeked < 0 and ctypes.get_errno() in _NOTHING_YET)


def recv_now(sock: socket.socket, buffer: Any) -> int:
    """Read into ``buffer`` (a ctypes buffer) what the socket holds already; how many bytes.
    0 means nothing read: nothing there, the end of the stream, an error, or no way to ask;
    the usual read then finds out which."""
    if _RECV is None:
        return 0
    read = _RECV(sock.fileno(), buffer, len(buffer), _DONTWAIT)
    return max(int(read), 0)


def send_now(sock: socket.socket, data: Any) -> int:
    """Write what of ``data`` the socket's buffer takes at once; returns how many bytes went.
    0 may also mean "not tried" (not bytes, too long) or an error the usual call will raise."""
    if _SEND is None or type(data) is not bytes or len(data) > MAX_QUICK_SEND:
        return 0
    sent = _SEND(sock.fileno(), data, len(data), _SEND_NOW)
    return max(int(sent), 0)


class QuickSendSocket(socket.socket):
    """A socket whose ``sendall`` writes a short message with the lock held when it can."""

    __slots__ = ()

    @classmethod
    def taking_over(cls, sock: socket.socket) -> QuickSendSocket:
        """The same connection, now of this class; ``sock`` is left closed."""
        timeout = sock.gettimeout()
        quick = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        quick.settimeout(timeout)
        return quick

    def sendall(self, data: Any, flags: int = 0) -> None:
        sent = 0 if flags else send_now(self, data)
        if sent < len(data):
            super().sendall(memoryview(data)[sent:] if sent else data, flags)
