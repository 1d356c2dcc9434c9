"""A plain SMTP socket held to a step's timeout by the kernel, not by a poll before each call.

A Python socket with a timeout is non-blocking underneath: every ``send`` and ``recv`` first
waits in ``poll()``, and each of those two system calls lets go of the interpreter lock and
queues to take it back behind the worker's other threads. Four extra thread switches per
message, on a worker whose threads spend their time rendering.

``StepTimeouts`` makes the socket blocking and gives the same bound to the kernel instead
(``SO_RCVTIMEO``, ``SO_SNDTIMEO``): a call that waits too long fails with ``EAGAIN``, which is
raised here as the ``TimeoutError`` Python's own timeout raises. Only the step's timeout is set,
and set again only when it moves by more than the slack; a message bigger than the socket's
buffer is written in parts, each held to what is left. TLS keeps Python's timeouts: OpenSSL
would take a timed-out read for "try again". A command or a message the socket's buffer
takes whole is written without letting go of the lock at all (``mailer.sockets``).
"""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Callable

from mailer.sockets import send_now


class TimedReads(io.RawIOBase):
    """What smtplib reads replies from: the socket's reads, a kernel timeout raised as one.
    (``socket.makefile`` would answer it with "no data yet", and a half line as a whole.)"""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            return self._sock.recv_into(buffer)
        except BlockingIOError:
            raise TimeoutError("timed out") from None


class StepTimeouts:
    """The kernel's timeouts on one blocking socket, as close to each step's as the slack."""

    def __init__(self, sock: socket.socket, slack_s: float) -> None:
        self.sock, self.slack_s = sock, slack_s
        self.timeout_s: float | None = None
        sock.settimeout(None)  # blocking: no poll before each call

    def give(self, timeout_s: float) -> None:
        if self.timeout_s is not None and abs(self.timeout_s - timeout_s) <= self.slack_s:
            return
        seconds = int(timeout_s)
        micros = max(1, int((timeout_s - seconds) * 1_000_000))  # zero would mean forever
        value = struct.pack("@ll", seconds, micros)  # struct timeval
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        self.timeout_s = timeout_s

    def send_all(self, data: bytes, next_timeout_s: Callable[[], float]) -> None:
        """``sendall``, each part after the first given what is left of the deadline; what
        the socket's buffer takes at once is written with the lock held (``mailer.sockets``)."""
        view = memoryview(data)[send_now(self.sock, data) :]
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                raise TimeoutError("timed out") from None
            if view:
                self.give(next_timeout_s())

    def reader(self) -> io.BufferedReader:
        return io.BufferedReader(TimedReads(self.sock))
