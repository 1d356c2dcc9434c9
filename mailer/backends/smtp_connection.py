"""smtplib's client as the SMTP backend uses it: held to a deadline, aware of its handover.

``MAILER_SEND_DEADLINE`` bounds a whole send, and smtplib knows only a timeout per network
step; so before each command is written and each reply read, the socket is given what is left
of the deadline, at most ``SMTP_TIMEOUT`` (to within 0.1 s, so that it is not set again for
every step). On a plain connection the kernel keeps that timeout (``smtp_socket``); over TLS,
Python does. The connection also remembers whether the whole
message and its final dot were written: from then on the server may have queued it, and a
timeout or a dropped line is an unknown outcome, not a failure.

A server that offers PIPELINING (RFC 2920) is sent MAIL, every RCPT and DATA in one write,
and their replies are read in order: a message costs two round trips instead of three or
more, and each round trip on a busy worker costs more CPU than building the message.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mailer.backends.smtp_socket import StepTimeouts

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

#: An address that is a bare addr-spec already, which smtplib's ``quoteaddr`` would parse
#: only to give it back in angle brackets.
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"]+@[^\s<>()\[\]\\,;:\"]+")
_LEADING_DOT = re.compile(rb"(?m)^\.")
#: How far a step's socket timeout may be from its exact share of the deadline.
TIMEOUT_SLACK_S = 0.1


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
    #: The kernel's timeouts on a plain socket; None before the first step, and over TLS.
    kernel_timeouts: StepTimeouts | None = None
    tls = False  # the socket is, or is about to be, wrapped in TLS

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

    def _give_step_timeout(self) -> StepTimeouts | None:
        """The socket's timeout for the next step, set again only once it is more than
        ``TIMEOUT_SLACK_S`` off: setting it is a system call, and each hands the interpreter
        lock to another thread and back, several times per email. Returns the kernel's
        timeouts on a plain socket; None where Python keeps them (TLS) or there is no socket."""
        sock = self.sock
        if sock is None:
            return None
        timeout_s = self._step_timeout_s()
        if self.tls or isinstance(sock, ssl.SSLSocket):
            current_s = sock.gettimeout()
            if current_s is None or abs(current_s - timeout_s) > TIMEOUT_SLACK_S:
                sock.settimeout(timeout_s)
            return None
        if self.kernel_timeouts is None or self.kernel_timeouts.sock is not sock:
            self.kernel_timeouts = StepTimeouts(sock, TIMEOUT_SLACK_S)
            self.file = self.kernel_timeouts.reader()
        self.kernel_timeouts.give(timeout_s)
        return self.kernel_timeouts

    def send(self, s: ReadableBuffer | str) -> None:
        timeouts = self._give_step_timeout()
        if timeouts is None:
            super().send(s)
        else:
            data = s.encode(self.command_encoding) if isinstance(s, str) else bytes(s)
            sys.audit("smtplib.send", self, data)
            try:
                timeouts.send_all(data, self._step_timeout_s)
            except OSError:
                self.close()  # as smtplib's own send
                raise smtplib.SMTPServerDisconnected("Server not connected")  # noqa: B904
        if self.data_sent and self.last_code == 354:
            self.handed_over = True

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """TLS from the STARTTLS command on: its handshake and records keep Python's timeouts."""
        self.tls = True
        return super().starttls(*args, **kwargs)

    def getreply(self) -> tuple[int, bytes]:
        self._give_step_timeout()
        code, reply = super().getreply()
        self.last_code, self.last_reply = code, reply
        return code, reply

    def sendmail(
        self,
        from_addr: str,
        to_addrs: str | Sequence[str],
        msg: Any,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> dict[str, tuple[int, bytes]]:
        """The message as written on the wire (no Bcc): sign those bytes. Pipelined when the
        server offers it, with smtplib's own errors and its return value either way."""
        if self.sign is not None and isinstance(msg, bytes):
            msg = self.sign(msg)
        if isinstance(to_addrs, str):
            to_addrs = [to_addrs]
        pipelining = self.does_esmtp and self.has_extn("pipelining")
        if not pipelining or not isinstance(msg, bytes) or rcpt_options:
            return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)
        return self._pipelined(from_addr, list(to_addrs), msg, list(mail_options))

    def _pipelined(
        self, from_addr: str, to_addrs: list[str], msg: bytes, options: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        """smtplib's ``sendmail`` as RFC 2920 has it: every reply of the group is read and
        checked, a DATA accepted although nothing else was is ended with a lone dot, and only
        the message itself waits for DATA's 354."""
        self._send_envelope(from_addr, to_addrs, len(msg), options)
        code, reply = self.getreply()
        if code == 421:
            self.close()
            raise smtplib.SMTPSenderRefused(code, reply, from_addr)
        refused: dict[str, tuple[int, bytes]] = {}
        for address in to_addrs:
            answer = self.getreply()
            if answer[0] not in (250, 251):
                refused[address] = answer
            if answer[0] == 421:
                self.close()
                raise smtplib.SMTPRecipientsRefused(refused)
        data = self.getreply()
        if code != 250 or len(refused) == len(to_addrs):
            self._abandon_transaction(data[0])
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, from_addr)
            raise smtplib.SMTPRecipientsRefused(refused)
        if data[0] != 354:
            self._end_refused(data[0])
            raise smtplib.SMTPDataError(*data)
        self.data_sent = True
        code, reply = self._write_message(msg)
        self.data_reply = reply
        if code != 250:
            self._end_refused(code)
            raise smtplib.SMTPDataError(code, reply)
        return refused

    def _send_envelope(
        self, from_addr: str, to_addrs: list[str], size: int, options: list[str]
    ) -> None:
        """MAIL with smtplib's options, every RCPT and DATA, in one write."""
        if self.has_extn("size"):
            options.insert(0, f"size={size}")
        if any(option.lower() == "smtputf8" for option in options):
            if not self.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            self.command_encoding = "utf-8"
        suffix = "".join(f" {option}" for option in options)
        commands = [f"mail FROM:{_path(from_addr)}{suffix}"]
        commands += [f"rcpt TO:{_path(address)}" for address in to_addrs]
        commands.append("data")
        if any("\r" in command or "\n" in command for command in commands):
            raise ValueError("command and arguments contain prohibited newline characters")
        self.send("".join(f"{command}\r\n" for command in commands))

    def _abandon_transaction(self, data_code: int) -> None:
        """MAIL or every RCPT was refused: a DATA accepted anyway gets a lone dot, so the
        server leaves its message mode with nobody to deliver to."""
        if data_code == 354:
            self.send(b".\r\n")
            data_code = self.getreply()[0]
        self._end_refused(data_code)

    def _end_refused(self, code: int) -> None:
        """As smtplib after a refusal: a server closing (421) is let go, any other reset."""
        if code == 421:
            self.close()
        else:
            with contextlib.suppress(smtplib.SMTPServerDisconnected):  # told on the next command
                self.rset()

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.data_sent = True
        if isinstance(msg, bytes):
            self.putcmd("data")
            code, reply = self.getreply()
            if code != 354:
                raise smtplib.SMTPDataError(code, reply)
            code, reply = self._write_message(msg)
        else:
            code, reply = super().data(msg)
        self.data_reply = reply
        return code, reply

    def _write_message(self, msg: bytes) -> tuple[int, bytes]:
        """The message after DATA's 354, dot-stuffed (RFC 5321, 4.5.2) and ended with a dot.
        smtplib runs its regular expression over every message; most have no line to stuff,
        and the scan cost a worker more CPU than the rest of the transaction."""
        if msg.startswith(b".") or b"\n." in msg:
            msg = _LEADING_DOT.sub(b"..", msg)
        ending = b".\r\n" if msg.endswith(b"\r\n") else b"\r\n.\r\n"
        self.send(msg + ending)
        return self.getreply()


def _path(address: str) -> str:
    """smtplib's ``quoteaddr``, without parsing an address that is a bare addr-spec."""
    return f"<{address}>" if _BARE_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


class SSLConnection(Connection, smtplib.SMTP_SSL):
    """The same client over implicit TLS."""


def answer_lost(connection: Connection, err: OSError) -> bool:
    """A timeout or a dropped line after the whole message was written, not a reply code."""
    return connection.handed_over and not isinstance(err, smtplib.SMTPResponseException)
