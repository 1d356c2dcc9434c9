"""The normalised event: one fact a provider reported about one message."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.errors import MailerError

#: ``delivered`` (the recipient's server accepted it), ``deferred`` (delayed; the provider
#: keeps trying), ``bounced`` (the provider gave up), ``complained`` (marked as spam),
#: ``rejected`` (the provider refused to send it), ``opened`` and ``clicked``.
PROVIDER_STATUSES = (
    "delivered",
    "deferred",
    "bounced",
    "complained",
    "rejected",
    "opened",
    "clicked",
)
#: The SES message tag and SendGrid custom argument that carry mailer's message id, so an
#: event finds its delivery-log record exactly.
MESSAGE_ID_ARG = "mailer_message_id"
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}\Z")
_DETAIL_MAX_CHARS = 300


class RefusedEvent(MailerError, ValueError):
    """A webhook request that is not proven to come from the provider, or came before."""

    def __init__(self, problem: str, *, status: int = 400) -> None:
        super().__init__(problem)
        self.problem = problem
        self.status = status


@dataclass(frozen=True)
class ProviderEvent:
    provider: str  # "ses" or "sendgrid", as the backends are named
    event_id: str  # unique per provider: an event seen twice is applied once
    status: str  # one of PROVIDER_STATUSES
    at: float  # when the provider saw it, epoch seconds
    message_id: str | None = None  # mailer's, when the provider echoed it back
    provider_id: str | None = None  # the id the provider answered the send with
    recipients: tuple[str, ...] = ()  # the addresses it concerns
    suppress: str | None = None  # "bounced" or "complained": put the recipients on the list
    detail: str = ""  # the provider's reason or diagnostic, or the link clicked


def message_id_or_none(value: object) -> str | None:
    """mailer's message id as echoed back, if it looks like one."""
    return value if isinstance(value, str) and _MESSAGE_ID.match(value) else None


def short(text: object) -> str:
    """A provider's diagnostic, cut to a length a log line and a page can show."""
    return str(text or "")[:_DETAIL_MAX_CHARS]
