"""Every error mailer raises, in one tree.

Callers catch what they can act on: a ``ValidationError`` is their input, fix it and call
again; a ``TransientSendError`` will be retried by the worker; a ``PermanentSendError`` goes
to the dead-letter queue at once because retrying cannot help::

    MailerError
    ├── ConfigurationError           a setting from the environment is missing or wrong
    ├── BrokerUnavailable            Redis is down, unreachable or loading its dataset
    ├── ValidationError (ValueError) bad input at the call site; nothing was queued
    │   ├── InvalidAddress
    │   ├── InvalidHeader
    │   ├── InvalidTemplateName
    │   ├── UnknownTemplate
    │   ├── InvalidContext
    │   │   └── MissingContext
    │   ├── InvalidAttachment
    │   │   └── AttachmentTooLarge
    │   ├── InvalidPriority
    │   ├── InvalidSendTime
    │   ├── InvalidKey
    │   ├── UnknownTopic             nobody subscribes to the topic published
    │   ├── InvalidPayload
    │   ├── InvalidUserId
    │   └── InvalidNotification
    ├── InvalidToken                 a signed token is forged, expired or meant for another use
    ├── RenderError                  a template failed to render in the worker (permanent)
    └── SendError                    the backend could not deliver
        ├── TransientSendError       retry later: 4xx SMTP, timeouts, 429, 5xx APIs
        │   ├── Throttled            the provider asked us to slow down
        │   └── UnknownOutcome       no answer after the provider had the message: retried
        │                            through the same backend only
        └── PermanentSendError       never retry: 5xx SMTP, 400/401/403, rejected

A send error carries the backend's name and the provider's own status and text, and never a
credential: backends build them from the provider's answer, not from their request.
"""

from __future__ import annotations

__all__ = [
    "AttachmentTooLarge",
    "BrokerUnavailable",
    "ConfigurationError",
    "InvalidAddress",
    "InvalidAttachment",
    "InvalidContext",
    "InvalidHeader",
    "InvalidKey",
    "InvalidNotification",
    "InvalidPayload",
    "InvalidPriority",
    "InvalidSendTime",
    "InvalidTemplateName",
    "InvalidToken",
    "InvalidUserId",
    "MailerError",
    "MissingContext",
    "PermanentSendError",
    "RenderError",
    "SendError",
    "Throttled",
    "TransientSendError",
    "UnknownOutcome",
    "UnknownTemplate",
    "UnknownTopic",
    "ValidationError",
]


class MailerError(Exception):
    """The root of every error mailer raises."""


class ConfigurationError(MailerError):
    """A setting is missing or malformed; the message names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class BrokerUnavailable(MailerError):
    """Redis refused the connection, timed out, or is still loading its dataset after a restart.

    A single send, schedule, publish or notification was not queued; call again once Redis is
    back. ``send_bulk`` and ``broadcast`` may have queued the batches before the failure: a
    ``send_bulk`` run again with the same ``key`` mails nobody twice. The redis-py error is the
    ``__cause__``; ``url`` is the Redis URL with its password masked, so the message can go to
    a log as it is.
    """

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"Redis at {url} is unavailable: {problem}")


class ValidationError(MailerError, ValueError):
    """Input rejected at the call site, before anything was queued.

    ``field`` names the argument at fault (``to``, ``headers``, ``context`` ...), so a web
    app can map it back onto its own form.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class InvalidAddress(ValidationError):
    """An address is empty, not a string, malformed, or carries CR/LF."""


class InvalidHeader(ValidationError):
    """A header name is not a valid field name, or a name or value carries CR/LF."""


class InvalidTemplateName(ValidationError):
    """A template name that is not a plain folder name, e.g. one that tries to leave the folder."""


class UnknownTemplate(ValidationError):
    """No templates folder holds an email type of that name."""


class InvalidContext(ValidationError):
    """The context is not a mapping, or not JSON-serialisable."""


class MissingContext(InvalidContext):
    """The context lacks variables the template uses."""

    def __init__(self, template: str, missing: list[str]) -> None:
        self.template = template
        self.missing = missing
        super().__init__("context", f"template {template!r} needs {', '.join(missing)}")


class InvalidAttachment(ValidationError):
    """An attachment is not a ``(filename, content, mimetype)`` triple or an ``Attachment``."""


class AttachmentTooLarge(InvalidAttachment):
    """The attachments together exceed ``MAILER_MAX_ATTACHMENTS_BYTES``."""


class InvalidPriority(ValidationError):
    """A priority that is not one of the levels."""


class InvalidSendTime(ValidationError):
    """A send time without a timezone, or too far ahead for a delayed message."""


class InvalidKey(ValidationError):
    """An idempotency or schedule key that is empty, too long, or not printable text."""


class UnknownTopic(ValidationError):
    """An event published to a topic no subscriber listens to (a typo, or a flow switched off)."""


class InvalidPayload(ValidationError):
    """An event's payload that is not a JSON object."""


class InvalidUserId(ValidationError):
    """A user id that is empty, too long, or not plain printable text."""


class InvalidNotification(ValidationError):
    """A notification's title, body, url or kind that cannot be stored or shown."""


class InvalidToken(MailerError):
    """A signed token (unsubscribe link, notification stream) that fails its check.

    The message says why in general terms only; it never echoes the token or the key.
    """


class RenderError(MailerError):
    """A template failed in the worker; the same input would fail again, so it is not retried."""


class SendError(MailerError):
    """A backend failed to deliver; ``status`` and ``detail`` are the provider's own answer.

    ``bounced`` lists the addresses the provider refused for good (an SMTP 5xx to ``RCPT``):
    the worker puts them on the suppression list.
    """

    def __init__(
        self,
        backend: str,
        detail: str,
        *,
        status: int | str | None = None,
        bounced: tuple[str, ...] = (),
    ) -> None:
        self.backend = backend
        self.detail = detail
        self.status = status
        self.bounced = bounced
        super().__init__(backend, detail, status)

    def __str__(self) -> str:
        status = f" {self.status}" if self.status is not None else ""
        return f"{self.backend}{status}: {self.detail}"


class TransientSendError(SendError):
    """Delivery may succeed later: the worker retries with exponential backoff."""


class Throttled(TransientSendError):
    """The provider refused for rate; ``retry_after_s`` is its hint, when it gave one."""

    def __init__(
        self,
        backend: str,
        detail: str,
        *,
        status: int | str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(backend, detail, status=status)
        self.retry_after_s = retry_after_s


class UnknownOutcome(TransientSendError):
    """The provider had the whole message, then its answer was lost: a timeout or a dropped
    connection after the end of SMTP's DATA or after an API request's body was sent.

    The provider may have accepted it. The worker retries it through the same backend only,
    never the fallback, so the worst case is one duplicate through one provider; and it does
    not count against the backend in the failover circuit. ``detail`` carries the provider's
    last words before the silence.
    """


class PermanentSendError(SendError):
    """Delivery cannot succeed as asked: the message goes to the dead-letter queue at once."""
