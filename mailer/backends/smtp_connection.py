"""smtplib's client as the SMTP backend uses it: held to a deadline, aware of its handover.

``MAILER_SEND_DEADLINE`` bounds a whole send, and smtplib knows only a timeout per network
step; so before each command is written and each reply read, the socket is given what is left
of the deadline, at most ``SMTP_TIMEOUT``. The connection also remembers whether the whole
message and its final dot were written: from then on the server may have queued it, and a
timeout or a dropped line is an unknown outcome, not a failure.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class Connection(smtplib.SMTP):
    """smtplib's client, held to the send's deadline, remembering how far a transaction got.

    Every command written and every reply read gets what is left of the deadline, at most
    ``SMTP_TIMEOUT``, so one send never outlasts ``MAILER_SEND_DEADLINE`` in all. A connection
    kept from an earlier send is given the new send's deadline before it is used.
    """

    data_sent = False
    sign: Callable[[bytes], bytes] | None = None  # DKIM, over the flattened message
    handed_over = False  # the whole message and its final dot were written after the 354
    data_reply = b""
    last_reply = b""

    def __init__(
        self, host: str, port: int, *, deadline_s: float, step_s: float, **tls: Any
    ) -> None:
        """Connect and read the greeting; ``tls``: ``SMTP_SSL``'s ``context``, if any."""
        self.deadline_s, self.step_s = deadline_s, step_s
        self.last_code = 0
        super().__init__(host, port, timeout=self._step_timeout_s(), **tls)

    def begin(self, deadline_s: float) -> None:
        """A new transaction, to be over by ``deadline_s`` (``time.monotonic()``)."""
        self.deadline_s = deadline_s
        self.data_sent = self.handed_over = False
        self.data_reply = b""

    def _step_timeout_s(self) -> float:
        left_s = self.deadline_s - time.monotonic()
        if left_s <= 0:
            raise TimeoutError("the send deadline (MAILER_SEND_DEADLINE) passed")
        return min(self.step_s, left_s)

    def send(self, s: ReadableBuffer | str) -> None:
        if self.sock is not None:
            self.sock.settimeout(self._step_timeout_s())
        super().send(s)
        if self.data_sent and self.last_code == 354:
            self.handed_over = True

    def getreply(self) -> tuple[int, bytes]:
        if self.sock is not None:
            self.sock.settimeout(self._step_timeout_s())
        code, reply = super().getreply()
        self.last_code, self.last_reply = code, reply
        return code, reply

    def sendmail(self, from_addr: str, to_addrs: Any, msg: Any, *args: Any, **kwargs: Any) -> Any:
        """The message as written on the wire (no Bcc): sign those bytes."""
        if self.sign is not None and isinstance(msg, bytes):
            msg = self.sign(msg)
        return super().sendmail(from_addr, to_addrs, msg, *args, **kwargs)

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.data_sent = True
        if isinstance(msg, bytes) and not msg.startswith(b".") and b"\n." not in msg:
            code, reply = self._data_as_is(msg)
        else:
            code, reply = super().data(msg)
        self.data_reply = reply
        return code, reply

    def _data_as_is(self, msg: bytes) -> tuple[int, bytes]:
        """smtplib's DATA for a message with no line to dot-stuff (RFC 5321, 4.5.2): the same
        bytes on the wire. Its own ``data`` runs a regular expression over every message to
        find such lines, which cost a worker more CPU than the rest of the transaction."""
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        ending = b".\r\n" if msg.endswith(b"\r\n") else b"\r\n.\r\n"
        self.send(msg + ending)
        return self.getreply()


class SSLConnection(Connection, smtplib.SMTP_SSL):
    """The same client over implicit TLS."""


def answer_lost(connection: Connection, err: OSError) -> bool:
    """A timeout or a dropped line after the whole message was written, not a reply code."""
    return connection.handed_over and not isinstance(err, smtplib.SMTPResponseException)
