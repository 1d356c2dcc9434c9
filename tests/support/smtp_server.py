"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 and a free port, in its own thread.

The fixtures are registered for the whole suite by the root conftest:

- ``smtp_sink``: a plain server, started before one test and stopped after it;
- ``make_smtp_sink``: a factory, ``make_smtp_sink(username=..., password=..., tls="ssl")``,
  for servers with AUTH or TLS, all stopped after the test;
- ``smtp_certificate`` (``tests.support.certificates``): a private CA and a certificate for
  127.0.0.1 and localhost signed by it, made once per session, for a server with TLS.

Or use ``SMTPSink(...)`` directly as a context manager. The server listens on TCP, so a
``dramatiq`` worker in another process can send to it too: ``sink.env()`` gives the
environment that points the smtp backend at it.

The server offers PIPELINING (RFC 2920), as Postfix and the big providers do, so clients send
MAIL, RCPT and DATA in one write; ``SMTPSink(pipelining=False)`` leaves it out.

Given ``username`` and ``password``, the server offers AUTH LOGIN and PLAIN over plain TCP
too, and answers MAIL from a session that has not logged in with 530.

What the server answers can be scripted, to test retries and failures:

- ``sink.script(["451 4.3.0 Try again later"])``: the next DATA commands get these replies in
  turn, then messages are accepted again. DATA, because that answer comes after the whole
  transaction and decides the message's fate. A scripted reply is sent as given and the
  message is not kept, even if it is a 250. ``"drop"`` in place of a reply keeps the
  message, as a server that queued it would, but closes the connection before answering.
  ``"late"`` keeps the message at once and sends its 250 only ``sink.late_answer_s`` later
  (30 s unless set), after a client's deadline: the answer lost after the handover.
- ``sink.reject_all = "550 5.1.1 Mailbox unavailable"``: every DATA gets that reply.
- ``sink.reject_recipient("gone@example.com")``: RCPT TO for that address gets a 550.
- ``sink.reject_sender("spoof@example.com")``: MAIL FROM that address gets a 550.
- ``sink.drop_connections()``: close every open session, as a server's idle timeout would.
- ``sink.data_delay_s = 0.05``: take that long over each DATA before answering, as a busy
  provider does; a client that dies meanwhile leaves a message the server accepted anyway.

``sink.attempts`` counts DATA commands, ``sink.messages`` holds the accepted ones, and
``sink.connections`` counts TCP connections made to the server.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.certificates import Certificate

HOST = "127.0.0.1"
MAILBOX_UNAVAILABLE = "550 5.1.1 Mailbox unavailable"
DROP = "drop"
LATE = "late"

TLSMode = Literal["starttls", "ssl"]


@dataclass(frozen=True)
class Received:
    """One message the server accepted, as it saw it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    queue_id: str
    login: str | None  # the AUTH username the session used, if any
    encrypted: bool  # whether it came over TLS (implicit or STARTTLS)


class SMTPSink:
    """An SMTP server that keeps what it receives; see the module docstring."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: TLSMode | None = None,
        certificate: Certificate | None = None,
        pipelining: bool = True,
    ) -> None:
        if tls is not None and certificate is None:
            raise ValueError("a TLS sink needs a certificate (the smtp_certificate fixture)")
        self.host = HOST
        self.username, self.password = username, password
        self.tls, self.certificate = tls, certificate
        self.pipelining = pipelining
        self.reject_all: str | None = None
        self.data_delay_s = 0.0
        self.late_answer_s = 30.0
        self._lock = threading.Condition()
        self._messages: list[Received] = []
        self._script: list[str] = []
        self._refused: dict[str, str] = {}
        self._refused_senders: dict[str, str] = {}
        self._attempts = 0
        self._connections = 0
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._controller: _Controller | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> SMTPSink:
        listener = socket.create_server((HOST, 0))
        self.port = listener.getsockname()[1]
        self._controller = _Controller(self, listener, **self._server_options())
        try:
            self._controller.start()
        except BaseException:
            self._abandon()
            raise
        with self._lock:
            self._connections = 0  # the controller's own check that the server is up
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def _abandon(self) -> None:
        """Release what a failed start left behind: thread, loop and listening socket."""
        controller, self._controller = self._controller, None
        assert controller is not None
        if controller.loop.is_running():
            controller.stop(no_assert=True)
        if not controller.loop.is_closed():
            controller.loop.close()
        controller.listener.close()

    def __enter__(self) -> SMTPSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _server_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"server_hostname": "smtp-sink.test"}
        if self.username is not None:
            # AUTH over plain TCP, so tests need no TLS to log in.
            options.update(auth_require_tls=False, authenticator=self._authenticate)
        if self.certificate is not None and self.tls == "starttls":
            options["tls_context"] = self.certificate.server_context()
        if self.certificate is not None and self.tls == "ssl":
            options["ssl_context"] = self.certificate.server_context()
        return options

    def env(self) -> dict[str, str]:
        """The environment that sends a worker process's mail here."""
        env = {
            "MAILER_BACKEND": "smtp",
            "SMTP_HOST": self.host,
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": self.tls or "none",
        }
        if self.username is not None and self.password is not None:
            env.update(SMTP_USERNAME=self.username, SMTP_PASSWORD=self.password)
        if self.certificate is not None:
            env["SSL_CERT_FILE"] = str(self.certificate.ca_path)  # the default context trusts it
        return env

    # --- what was received -----------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    @property
    def attempts(self) -> int:
        with self._lock:
            return self._attempts

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` messages were accepted; fails the test after ``timeout`` s."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= count, timeout):
                pytest.fail(f"expected {count} messages within {timeout}s, got {self._messages}")
            return list(self._messages)

    # --- scripting -------------------------------------------------------------------------

    def script(self, replies: list[str]) -> None:
        """The next DATA commands get these replies (or ``"drop"``), then mail is accepted."""
        with self._lock:
            self._script.extend(replies)

    def unscript(self) -> None:
        """Forget the replies still scripted: mail is accepted from now on."""
        with self._lock:
            self._script.clear()

    def reject_recipient(self, address: str, reply: str = MAILBOX_UNAVAILABLE) -> None:
        with self._lock:
            self._refused[address.lower()] = reply

    def reject_sender(self, address: str, reply: str = "550 5.7.1 Sender refused") -> None:
        with self._lock:
            self._refused_senders[address.lower()] = reply

    def drop_connections(self) -> None:
        """Close every open session from the server's side."""
        assert self._controller is not None, "the sink is not running"

        async def close_all() -> None:
            for server in list(self._sessions):
                if server.transport is not None:
                    server.transport.close()

        loop = self._controller.loop
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)

    # --- server side (runs in the server's thread) -----------------------------------------

    def _connected(self, server: SMTP) -> None:
        with self._lock:
            self._connections += 1
        self._sessions.add(server)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.username is not None
            and self.password is not None
            and data.login == self.username.encode()
            and data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _reply_to_mail(self, session: Session, address: str) -> str | None:
        if self.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        with self._lock:
            return self._refused_senders.get(address.lower())

    def _reply_to_rcpt(self, address: str) -> str | None:
        with self._lock:
            return self._refused.get(address.lower())

    def _reply_to_data(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self._attempts += 1
            reply = self._script.pop(0) if self._script else self.reject_all
            if reply is not None and reply not in (DROP, LATE):
                return reply
            queue_id = f"Q{self._attempts:06d}"
            self._messages.append(_received(server, session, envelope, queue_id))
            self._lock.notify_all()
        if reply == DROP:
            assert server.transport is not None
            server.transport.close()
        answer = f"250 2.0.0 Ok: queued as {queue_id}"
        return f"{LATE} {answer}" if reply == LATE else answer


def _received(server: SMTP, session: Session, envelope: Envelope, queue_id: str) -> Received:
    raw = cast(bytes, envelope.original_content)
    login = getattr(session.auth_data, "login", None)
    transport = server.transport
    return Received(
        mail_from=str(envelope.mail_from),
        rcpt_tos=list(envelope.rcpt_tos),
        raw=raw,
        message=email.message_from_bytes(raw, policy=email.policy.default),
        queue_id=queue_id,
        login=login.decode() if isinstance(login, bytes) else None,
        encrypted=transport is not None and transport.get_extra_info("ssl_object") is not None,
    )


class _Handler:
    """aiosmtpd's hooks, answering as the sink says."""

    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if not self.sink.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.sink._reply_to_mail(session, address)
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.sink._reply_to_rcpt(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.data_delay_s:
            await asyncio.sleep(self.sink.data_delay_s)
        answer = self.sink._reply_to_data(server, session, envelope)
        if answer.startswith(f"{LATE} "):  # kept already; the answer comes too late
            await asyncio.sleep(self.sink.late_answer_s)
            answer = answer.removeprefix(f"{LATE} ")
        return answer


class _Controller(Controller):
    """aiosmtpd's controller on a socket already bound to a free port, counting sessions."""

    def __init__(self, sink: SMTPSink, listener: socket.socket, **options: Any) -> None:
        super().__init__(_Handler(sink), hostname=HOST, port=sink.port, **options)
        self.sink = sink
        self.listener = listener

    def _create_server(self) -> Any:
        return self.loop.create_server(
            self._factory_invoker, sock=self.listener, ssl=self.ssl_context
        )

    def factory(self) -> SMTP:
        server = SMTP(self.handler, **self.SMTP_kwargs)
        self.sink._connected(server)
        return server


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    with SMTPSink() as sink:
        yield sink


@pytest.fixture
def make_smtp_sink() -> Iterator[Any]:
    """``make_smtp_sink(**SMTPSink options)``: started now, stopped after the test."""
    sinks: list[SMTPSink] = []

    def make(**options: Any) -> SMTPSink:
        sink = SMTPSink(**options).start()
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.stop()
