"""SMTP through smtplib: one connection per worker thread, reused for many messages.

A worker thread keeps its backend, and so its connection, from one message to the next: a
login per message would cost more than the message. Servers drop idle connections, so a
message whose connection turns out dead before its DATA command is sent once more on a new
connection. Once DATA is under way it never is: the server may have queued the message
already, and a second copy would reach the recipients.

Errors follow the server's reply code, 4xx transient and 5xx permanent. Bad credentials, a
missing extension (STARTTLS, SMTPUTF8) and a certificate that fails verification are permanent
as well, since retrying cannot fix them; network trouble is transient. A timeout or a dropped
line after the message's final dot is neither: the server may have queued it, so it is an
``UnknownOutcome``, retried through this backend only. The whole call, connecting included,
is held to ``MAILER_SEND_DEADLINE``; with ``MAILER_DKIM_*`` set, the bytes on the wire are
signed (``mailer.backends.dkim``). After any error the
connection is closed, so a half-done transaction cannot leak into the next message. The
username and password never reach a log line or an error, and neither do the recipients: a
refusal is told by count and reply code, and an address the server quotes back is masked.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from mailer.addresses import addr_spec
from mailer.backends.base import Backend, mask_addresses
from mailer.backends.dkim import Signer
from mailer.backends.smtp_connection import Connection, SSLConnection, answer_lost
from mailer.envelope import Email
from mailer.errors import (
    ConfigurationError,
    PermanentSendError,
    SendError,
    TransientSendError,
    UnknownOutcome,
)
from mailer.settings import SMTP_SECURITY_MODES, Settings

log = logging.getLogger(__name__)

_NAME = "smtp"
# Postfix answers "250 2.0.0 Ok: queued as 4B3C61D0E4", Exim "250 OK id=1uXyZa-000Abc-De".
_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>\r\n]*>)", re.MULTILINE)
_QUEUE_ID = re.compile(r"(?:queued as|\bid=)\s*<?([\w@-]+(?:\.[\w@-]+)*)", re.IGNORECASE)


class SMTPBackend(Backend):
    name = _NAME
    needs_real_sender = True

    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        """``ssl_context`` replaces the default verifying context, e.g. to trust a private CA."""
        super().__init__(settings)
        self.ssl_context = ssl_context
        self._connection: Connection | None = None
        self._signer = Signer.from_settings(settings)

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        super().check_settings(settings)
        if settings.smtp_security not in SMTP_SECURITY_MODES:
            modes = ", ".join(SMTP_SECURITY_MODES)
            raise ConfigurationError("SMTP_SECURITY", f"must be one of {modes}")
        Signer.from_settings(settings)  # a key that cannot sign refuses the start

    def open(self) -> bool:
        if self._connection is not None:
            return False
        with self._map_errors():
            self._connection = self._connect()
        return True

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        connection.begin(time.monotonic() + self.settings.smtp_timeout_s)  # for the QUIT alone
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()  # the server is gone already: nobody to say goodbye to

    def deliver(self, email: Email) -> str:
        raw = email.to_bytes()  # built once: a resend carries the same Date and Message-ID
        with self._map_errors():
            try:
                connection = self._send(raw, email)
            except smtplib.SMTPServerDisconnected:
                if self._connection is None or self._connection.data_sent:
                    raise
                log.info("SMTP connection to %s was dropped; reconnecting once", self._server)
                self.close()
                connection = self._send(raw, email)
        return _provider_id(connection.data_reply, _message_id(raw))

    @property
    def _server(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def _connect(self) -> Connection:
        settings = self.settings
        connection = self._greeted_connection()
        try:
            if settings.smtp_security == "starttls":
                connection.starttls(context=self._tls_context())
            connection.ehlo()
            if settings.smtp_username is not None and settings.smtp_password is not None:
                connection.login(settings.smtp_username, settings.smtp_password)
        except BaseException:
            connection.close()
            raise
        log.debug("connected to SMTP server %s (%s)", self._server, settings.smtp_security)
        return connection

    def _greeted_connection(self) -> Connection:
        """Connect and read the greeting; given the host up front, TLS checks its name."""
        settings = self.settings
        host, port, step_s = settings.smtp_host, settings.smtp_port, settings.smtp_timeout_s
        if settings.smtp_security == "ssl":
            context = self._tls_context()
            return SSLConnection(
                host, port, deadline_s=self.deadline_s, step_s=step_s, context=context
            )
        return Connection(host, port, deadline_s=self.deadline_s, step_s=step_s)

    def _tls_context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _send(self, raw: bytes, email: Email) -> Connection:
        """One SMTP transaction on the open connection, opening it first if needed."""
        self.open()
        connection = self._connection
        assert connection is not None  # open() has just made it, or made it before
        connection.begin(self.deadline_s)
        connection.sign = None if self._signer is None else self._signer.sign
        options: tuple[str, ...] = ()
        if email.international:  # as smtplib's send_message asks for a UTF-8 address
            if not connection.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("the server does not support SMTPUTF8")
            options = ("SMTPUTF8", "BODY=8BITMIME")
        from_addr, recipients = addr_spec(email.from_email), email.recipients
        refused = connection.sendmail(from_addr, recipients, raw, mail_options=options)
        if refused:  # some recipients were accepted, so the message went out to them
            log.warning(
                "SMTP server %s refused %d of %d recipients of %s: %s",
                self._server,
                len(refused),
                len(recipients),
                _message_id(raw),
                mask_addresses(_describe(refused), refused),
            )
        return connection

    @contextmanager
    def _map_errors(self) -> Iterator[None]:
        """Turn smtplib's and the network's exceptions into send errors, and drop the line."""
        try:
            yield
        except (smtplib.SMTPException, OSError) as err:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()  # no QUIT: the transaction is broken, and time may be up
                if answer_lost(connection, err):
                    raise self._unknown_outcome(connection, err) from err
            raise self._send_error(err) from err

    def _unknown_outcome(self, connection: Connection, err: OSError) -> UnknownOutcome:
        """The server has the message and never answered its end: it may have queued it."""
        last_words = f"{connection.last_code} {_text(connection.last_reply)}".strip()
        detail = (
            f"{self._server}: no answer to the end of DATA ({str(err) or type(err).__name__}); "
            f"the server may have accepted the message. Its last words: {last_words}"
        )
        return UnknownOutcome(_NAME, self._scrub(detail))

    def _send_error(self, err: smtplib.SMTPException | OSError) -> SendError:
        if isinstance(err, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in err.recipients.values()]
            status = next((code for code in codes if 400 <= code < 500), codes[0])
            detail = f"every recipient was refused ({len(codes)}): " + _describe(err.recipients)
            bounced = tuple(a for a, (code, _) in err.recipients.items() if 500 <= code < 600)
            detail = mask_addresses(self._scrub(detail), err.recipients)
            return _kind(status)(_NAME, detail, status=status, bounced=bounced)
        if isinstance(err, smtplib.SMTPResponseException):
            kind = _kind(err.smtp_code)
            return kind(_NAME, self._scrub(_text(err.smtp_error)), status=err.smtp_code)
        kind = PermanentSendError if _unfixable(err) else TransientSendError
        return kind(_NAME, self._scrub(f"{self._server}: {str(err) or type(err).__name__}"))

    def _scrub(self, text: str) -> str:
        """Mask the credentials, in case a server echoes them back in its answer."""
        for secret in (self.settings.smtp_password, self.settings.smtp_username):
            if secret:
                text = text.replace(secret, "***")
        return text


def _kind(code: int) -> type[SendError]:
    """5xx will be refused again; anything else (4xx, an unreadable reply) may pass later."""
    return PermanentSendError if 500 <= code < 600 else TransientSendError


def _unfixable(err: smtplib.SMTPException | OSError) -> bool:
    """A missing extension or an untrusted certificate stays so; a dropped line may recover."""
    if isinstance(err, smtplib.SMTPServerDisconnected):
        return False
    return isinstance(err, (smtplib.SMTPException, ssl.SSLCertVerificationError))


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply


def _describe(refused: Mapping[str, tuple[int, bytes]]) -> str:
    """The server's replies, one per refused address, without the addresses."""
    return ", ".join(f"{code} {_text(reply)}".rstrip() for code, reply in refused.values())


def _message_id(raw: bytes) -> str:
    """The Message-ID the bytes carry: the same for every resend of one message."""
    match = _MESSAGE_ID.search(raw)
    return match[1].decode("ascii") if match else ""


def _provider_id(reply: bytes, message_id: str) -> str:
    """The server's queue id from its final 250 reply, else the Message-ID we sent."""
    match = _QUEUE_ID.search(_text(reply))
    return match[1] if match else message_id
