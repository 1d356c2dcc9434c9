"""Amazon SES (API v2): the whole MIME message goes as raw data, so attachments and headers survive.

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` and friends, a profile, an
instance role); this module never reads or logs them. botocore does not retry: the worker
retries with backoff anyway, a retry inside the call could send again a message SES already
had, and it would run past the send's deadline. The connect and read timeouts add up to
``MAILER_SEND_DEADLINE``. A read timeout or a connection closed once the request was on its
way is an ``UnknownOutcome``: SES may have taken the message, so it is retried through SES only.

Tags and metadata become SES message tags, which allow only ``[A-Za-z0-9_-]`` up to 256
characters in a name or value: other characters are replaced by ``_``, an empty result is
skipped, and each tag is sent as ``<tag>=true``; metadata wins over a tag of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore import exceptions as boto_errors
from botocore.config import Config

from mailer.addresses import addr_spec
from mailer.backends.base import Backend
from mailer.envelope import Email
from mailer.errors import (
    ConfigurationError,
    PermanentSendError,
    SendError,
    Throttled,
    TransientSendError,
    UnknownOutcome,
)
from mailer.provider_events import MESSAGE_ID_ARG
from mailer.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import MessageTagTypeDef

_NAME = "ses"
#: The most of the deadline that connecting may take; the rest waits for SES's answer.
_CONNECT_TIMEOUT_S = 5.0
# SESv2 answers 429 TooManyRequestsException; the common AWS errors add the other two.
_THROTTLING_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})
# SES puts its sending-quota errors in the message whatever the code (LimitExceededException
# included); the daily quota frees up over the rolling 24 hours, so both are worth a retry.
_THROTTLING_MESSAGES = ("maximum sending rate exceeded", "daily message quota exceeded")
_TRANSIENT_CODES = frozenset(
    {
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Raised once the request may have reached SES: waiting for the answer, or reading it.
_ANSWER_LOST = (
    boto_errors.ReadTimeoutError,
    boto_errors.ConnectionClosedError,
    boto_errors.ResponseStreamingError,
)
_TAG_INVALID = re.compile(r"[^A-Za-z0-9_-]")
_TAG_MAX_CHARS = 256
_TAGS_MAX = 50


class SESBackend(Backend):
    name = _NAME
    needs_real_sender = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._client: SESV2Client | None = None

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        super().check_settings(settings)
        if not settings.aws_region:
            raise ConfigurationError("AWS_REGION", f"is required with MAILER_BACKEND={cls.name}")

    def open(self) -> bool:
        if self._client is not None:
            return False
        # A session of its own: boto3's shared default session is not safe to make clients
        # from in several worker threads at once.
        self._client = boto3.session.Session().client(
            "sesv2",
            region_name=self.settings.aws_region,
            endpoint_url=self.settings.ses_endpoint_url,
            config=_config(self.settings.send_deadline_s),
        )
        return True

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def deliver(self, email: Email) -> str:
        request = _request(email, self.settings.ses_configuration_set)
        with _map_errors():
            response = self._connection().send_email(**request)
        return response["MessageId"]

    def _connection(self) -> SESV2Client:
        self.open()
        assert self._client is not None  # open() has just made it, or made it before
        return self._client


def _config(deadline_s: float) -> Config:
    connect_s = min(_CONNECT_TIMEOUT_S, deadline_s / 4)
    return Config(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_s,
        read_timeout=deadline_s - connect_s,
    )


def _request(email: Email, configuration_set: str | None) -> dict[str, Any]:
    """SendEmail's arguments: bare envelope addresses, the MIME bytes, optional extras."""
    destination = {
        key: [addr_spec(address) for address in addresses]
        for key, addresses in (
            ("ToAddresses", email.to),
            ("CcAddresses", email.cc),
            ("BccAddresses", email.bcc),
        )
        if addresses
    }
    request: dict[str, Any] = {
        "FromEmailAddress": addr_spec(email.from_email),
        "Destination": destination,
        "Content": {"Raw": {"Data": email.to_bytes()}},
    }
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    tags = message_tags(email.tags, email.metadata)
    if email.message_id is not None:
        # SES's events carry the message's tags: the webhook finds the log record by this one.
        tags = [t for t in tags if t["Name"] != MESSAGE_ID_ARG][: _TAGS_MAX - 1]
        tags.append({"Name": MESSAGE_ID_ARG, "Value": _tag_text(email.message_id)})
    if tags:
        request["EmailTags"] = tags
    return request


def message_tags(tags: list[str], metadata: Mapping[str, str]) -> list[MessageTagTypeDef]:
    """SES message tags from mailer's tags and metadata, sanitised as the module docstring says."""
    pairs = {_tag_text(tag): "true" for tag in tags}
    pairs.update({_tag_text(key): _tag_text(str(value)) for key, value in metadata.items()})
    valid: list[MessageTagTypeDef] = [
        {"Name": name, "Value": value} for name, value in pairs.items() if name and value
    ]
    return valid[:_TAGS_MAX]


def _tag_text(text: str) -> str:
    return _TAG_INVALID.sub("_", text)[:_TAG_MAX_CHARS]


@contextmanager
def _map_errors() -> Iterator[None]:
    """Turn boto3's exceptions into mailer's send errors, ``from`` the original."""
    try:
        yield
    except boto_errors.ClientError as err:
        raise _client_error(err) from err
    except (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError) as err:
        raise PermanentSendError(
            _NAME, "no complete AWS credentials found (set AWS_ACCESS_KEY_ID and friends)"
        ) from err
    except _ANSWER_LOST as err:
        detail = f"no answer after the request was sent ({err}); SES may have accepted it"
        raise UnknownOutcome(_NAME, detail) from err
    except (boto_errors.ConnectionError, boto_errors.HTTPClientError) as err:
        # Connect and read timeouts, refused or dropped connections: SES may be fine later.
        raise TransientSendError(_NAME, str(err)) from err
    except boto_errors.ParamValidationError as err:
        raise PermanentSendError(_NAME, str(err)) from err


def _client_error(err: boto_errors.ClientError) -> SendError:
    """Classify one AWS error answer by its code, its HTTP status and, for quotas, its text."""
    error = err.response.get("Error", {})
    metadata = err.response.get("ResponseMetadata", {})
    http_status = metadata.get("HTTPStatusCode")
    code = error.get("Code") or None
    status: int | str | None = code or http_status
    detail = error.get("Message") or str(status)
    if (
        code in _THROTTLING_CODES
        or http_status == 429
        or any(text in detail.lower() for text in _THROTTLING_MESSAGES)
    ):
        retry_after_s = _retry_after_s(metadata.get("HTTPHeaders", {}))
        return Throttled(_NAME, detail, status=status, retry_after_s=retry_after_s)
    if code in _TRANSIENT_CODES or (http_status is not None and http_status >= 500):
        return TransientSendError(_NAME, detail, status=status)
    return PermanentSendError(_NAME, detail, status=status)


def _retry_after_s(headers: Mapping[str, Any]) -> float | None:
    """SES seldom sends ``Retry-After``; when it does, it is a number of seconds."""
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, TypeError, ValueError):
        return None
