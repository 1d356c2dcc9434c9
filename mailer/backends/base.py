"""The backend protocol: Django's lifecycle (open, close, context manager) around one call.

A backend sends one ``Email`` and returns the provider's id for it. Subclasses implement
``deliver`` and raise ``TransientSendError`` or ``PermanentSendError`` from the provider's
own answer; connection reuse lives in ``open``/``close`` so that a worker thread keeps one
connection for many messages.

A provider's answer may quote the recipients ("failed the check: ann@example.com"); the
error's text reaches the worker's log and Dramatiq's traceback, so ``send`` masks every
recipient in it, whichever backend raised it.
"""

from __future__ import annotations

import abc
import math
import re
import time
from collections.abc import Iterable
from types import TracebackType
from typing import ClassVar

from mailer.envelope import Email
from mailer.errors import ConfigurationError, SendError
from mailer.settings import Settings


class Backend(abc.ABC):
    #: The name ``MAILER_BACKEND`` selects this backend by; errors carry it too.
    name: ClassVar[str]

    #: Whether the provider needs a real sender, so the placeholder default will not do.
    needs_real_sender: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: When the send under way must be over (``time.monotonic()``): ``MAILER_SEND_DEADLINE``
        #: after it began, across connecting, every command and the provider's final answer.
        self.deadline_s = math.inf

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        """Refuse to start without what this backend needs; errors name the variable."""
        if cls.needs_real_sender and settings.from_email == Settings.from_email:
            raise ConfigurationError("MAILER_FROM", f"is required with MAILER_BACKEND={cls.name}")

    def open(self) -> bool:
        """Make the connection if there is one to make; True only if this call made it."""
        return False

    def close(self) -> None:
        """Drop the connection, if any. Safe to call more than once."""
        return None

    def send(self, email: Email) -> str:
        """Deliver one message and return the provider's id for it, within the deadline."""
        self.deadline_s = time.monotonic() + self.settings.send_deadline_s
        try:
            self.open()
            return self.deliver(email)
        except SendError as err:
            _mask_in_error(err, email.recipients)
            raise
        finally:
            self.deadline_s = math.inf  # a connection opened between sends has no deadline

    def remaining_s(self) -> float:
        """Seconds left before the send's deadline; zero once it has passed."""
        return max(0.0, self.deadline_s - time.monotonic())

    @abc.abstractmethod
    def deliver(self, email: Email) -> str:
        """The provider call; raise mailer's send errors, ``from`` the provider's."""

    def __enter__(self) -> Backend:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


MASK = "***"


def mask_addresses(text: str, addresses: Iterable[str]) -> str:
    """``text`` with each of ``addresses`` replaced by ``***``, whatever its case."""
    for address in addresses:
        if address:
            text = re.sub(re.escape(address), MASK, text, flags=re.IGNORECASE)
    return text


def _mask_in_error(err: SendError, addresses: Iterable[str]) -> None:
    """In place, so the error keeps its type, its cause and its traceback."""
    masked = mask_addresses(err.detail, addresses)
    if masked != err.detail:
        err.detail = masked
        err.args = (err.backend, masked, err.status)
