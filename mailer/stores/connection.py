"""redis-py's client as mailer's processes make it, with a cheaper check of a pooled connection.

Each time redis-py's pool hands out a connection it checks that nothing is left to read on
it (``can_read``): a connection given back mid-reply, or closed by the server while idle
(Heroku's Redis closes those after 300 s), is made again instead of answering the next
command with the last one's reply. For that check its parser makes the socket non-blocking,
reads, and makes it blocking again: three system calls, each of which hands the interpreter
lock to another thread and back. A worker checks out a connection two or three times per
email, and eight threads share that lock.

``ProbingParser`` makes the same check in one call, a read with ``MSG_DONTWAIT`` that leaves
the socket's mode alone, and treats what it finds exactly as redis-py does. A socket with a
timeout of its own (``?socket_timeout=`` in the URL) or TLS keeps redis-py's way.

Even that one call, made through Python's socket, lets go of the interpreter lock and must
queue to take it back behind the threads that are rendering: two thread switches for a call
that never waits. So the check first peeks with the lock held (``mailer.sockets``), and only
reads the usual way when something is there, which is rare. For the same reason a plain TCP
connection writes each command with the lock held when the socket's buffer has room.
"""

from __future__ import annotations

import ctypes
import socket
import ssl
from typing import Any

import redis
from redis.connection import (
    HIREDIS_AVAILABLE,
    SENTINEL,
    SERVER_CLOSED_CONNECTION_ERROR,
    DefaultParser,
    HiredisParser,
)

from mailer.sockets import QuickSendSocket, nothing_to_read, recv_now

#: How long a call waits for Redis to accept a connection before it says Redis is down.
CONNECT_TIMEOUT_S = 5.0


class ProbingParser(HiredisParser):  # type: ignore[misc]  # redis-py 4 has no stubs for it
    """hiredis, with the pool's "anything left to read?" check made in one system call."""

    def __init__(self, socket_read_size: int) -> None:
        super().__init__(socket_read_size)
        # The read buffer as libc takes it, for ``read_reply``: the same memory.
        self.arrived = (ctypes.c_char * len(self._buffer)).from_buffer(self._buffer)

    def read_from_socket(self, timeout: Any = SENTINEL, raise_on_timeout: bool = True) -> bool:
        sock = self._sock
        probe = timeout == 0 and not raise_on_timeout  # only can_read() asks this way
        if not probe or sock is None or isinstance(sock, ssl.SSLSocket) or sock.gettimeout():
            return bool(super().read_from_socket(timeout, raise_on_timeout))
        if nothing_to_read(sock):
            return False  # the connection is ready for a command
        try:
            read = sock.recv_into(self._buffer, 0, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False  # nothing to read: the connection is ready for a command
        except OSError as err:
            raise redis.ConnectionError(f"Error while reading from socket: {err.args}") from err
        if read == 0:
            raise redis.ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        self._reader.feed(self._buffer, 0, read)
        return True


def read_reply(connection: redis.Connection) -> Any:
    """The next reply on ``connection``, which has usually arrived already: taken with the
    lock held where it has (``ProbingParser`` over plain TCP), else read the usual way."""
    parser, sock = connection._parser, connection._sock
    if isinstance(parser, ProbingParser) and isinstance(sock, QuickSendSocket):
        read = recv_now(sock, parser.arrived)
        if read:
            parser._reader.feed(parser._buffer, 0, read)
    return connection.read_response()


class QuickSendConnection(redis.Connection):  # type: ignore[misc]
    """redis-py's TCP connection, its commands written with the lock held where they can be."""

    def _connect(self) -> socket.socket:
        return QuickSendSocket.taking_over(super()._connect())


def connect(url: str) -> redis.Redis:
    """A new client for ``url``: its own pool, the connect timeout, the cheaper check (where
    hiredis, a dependency, is installed at all), the quicker writes over plain TCP."""
    options: dict[str, Any] = {"socket_connect_timeout": CONNECT_TIMEOUT_S}
    options["parser_class"] = ProbingParser if HIREDIS_AVAILABLE else DefaultParser
    if url.startswith("redis://"):  # rediss:// and unix:// keep their own connection class
        options["connection_class"] = QuickSendConnection
    return redis.Redis.from_url(url, **options)
