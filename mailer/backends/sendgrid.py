"""SendGrid's v3 Mail Send API through the official SDK, with the JSON payload built here.

The payload is written by hand rather than through the SDK's helper classes: it is a plain
mapping of the ``Email`` fields and reads like SendGrid's own documentation. SendGrid answers
202 with the message's id in the ``X-Message-Id`` header.

The SDK's HTTP client logs every request's headers, the API key among them, at DEBUG level;
a filter on its logger drops that one record so that turning on debug logging never leaks it.

Connecting and waiting for the answer each get half of what is left of the send's deadline
(``MAILER_SEND_DEADLINE``). urllib wraps an error made while connecting or sending the request
in a ``URLError``; anything raised bare comes later, once SendGrid had the whole request, and
is an ``UnknownOutcome``: SendGrid may have accepted it, so it is retried through SendGrid only.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
import urllib.error
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient

from mailer.addresses import addr_spec, display_name
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

_NAME = "sendgrid"
_MAX_CATEGORIES = 10  # SendGrid refuses a message with more


class SendGridBackend(Backend):
    name = _NAME
    needs_real_sender = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._client: Any = None  # a SendGridAPIClient; the SDK ships no types

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        super().check_settings(settings)
        if not settings.sendgrid_api_key:
            raise ConfigurationError(
                "SENDGRID_API_KEY", f"is required with MAILER_BACKEND={cls.name}"
            )

    def open(self) -> bool:
        if self._client is not None:
            return False
        self._client = SendGridAPIClient(
            api_key=self.settings.sendgrid_api_key, host=self.settings.sendgrid_host
        )
        return True

    def close(self) -> None:
        # The SDK opens a connection per request and closes it with the response.
        self._client = None

    def deliver(self, email: Email) -> str:
        self.open()
        with _map_errors():
            response = self._client.client.mail.send.post(
                request_body=payload(email), timeout=max(0.1, self.remaining_s() / 2)
            )
        return str(response.headers.get("X-Message-Id", ""))


def payload(email: Email) -> dict[str, Any]:
    """The v3 Mail Send body for one message."""
    body: dict[str, Any] = {
        "personalizations": [_personalization(email)],
        "from": _address(email.from_email),
        "subject": email.subject,
        "content": _content(email),
    }
    if len(email.reply_to) == 1:
        body["reply_to"] = _address(email.reply_to[0])
    elif email.reply_to:
        body["reply_to_list"] = [_address(address) for address in email.reply_to]
    if email.attachments:
        body["attachments"] = [
            {
                "content": base64.b64encode(attachment.content).decode("ascii"),
                "filename": attachment.filename,
                "type": attachment.mimetype,
                "disposition": "attachment",
            }
            for attachment in email.attachments
        ]
    headers = _headers(email)
    if headers:
        body["headers"] = headers
    if email.tags:
        body["categories"] = email.tags[:_MAX_CATEGORIES]
    custom_args = {key: str(value) for key, value in email.metadata.items()}
    if email.message_id is not None:
        # Echoed back in every event of this message: the webhook finds the log record by it.
        custom_args[MESSAGE_ID_ARG] = email.message_id
    if custom_args:
        body["custom_args"] = custom_args
    return body


def _personalization(email: Email) -> dict[str, list[dict[str, str]]]:
    """To, Cc and Bcc; SendGrid refuses an address twice in one of these, so the first stays."""
    seen: set[str] = set()
    personalization: dict[str, list[dict[str, str]]] = {}
    for key, addresses in (("to", email.to), ("cc", email.cc), ("bcc", email.bcc)):
        unique = []
        for address in addresses:
            bare = addr_spec(address).lower()
            if bare not in seen:
                seen.add(bare)
                unique.append(_address(address))
        if unique:
            personalization[key] = unique
    return personalization


def _address(address: str) -> dict[str, str]:
    name = display_name(address)
    return {"email": addr_spec(address), "name": name} if name else {"email": addr_spec(address)}


def _content(email: Email) -> list[dict[str, str]]:
    """Plain text before HTML, as SendGrid requires; it also refuses an empty body."""
    content = []
    if email.text or email.html is None:
        content.append({"type": "text/plain", "value": email.text or " "})
    if email.html is not None:
        content.append({"type": "text/html", "value": email.html or " "})
    return content


def _headers(email: Email) -> dict[str, str]:
    """Custom headers, plus a stable Message-ID so that a retried send stays one message."""
    headers = dict(email.headers)
    if email.message_id is not None:
        headers["Message-ID"] = email.message_id_header()
    return headers


@contextmanager
def _map_errors() -> Iterator[None]:
    """Turn the SDK's and urllib's exceptions into mailer's send errors, ``from`` the original."""
    try:
        yield
    except http_errors.HTTPError as err:
        raise _http_error(err) from err
    except urllib.error.URLError as err:
        # Refused connections, failed handshakes, timeouts before the request was sent.
        raise TransientSendError(_NAME, str(err.reason)) from err
    except (OSError, http.client.HTTPException) as err:
        detail = f"no answer after the request was sent ({str(err) or type(err).__name__})"
        raise UnknownOutcome(_NAME, f"{detail}; SendGrid may have accepted it") from err


def _http_error(err: http_errors.HTTPError) -> SendError:
    """Classify SendGrid's error answer; its detail is SendGrid's text, never our request."""
    status: int = err.status_code
    detail = _error_detail(err.body) or str(err.reason)
    if status == 429:
        return Throttled(_NAME, detail, status=status, retry_after_s=_retry_after_s(err.headers))
    if status >= 500:
        return TransientSendError(_NAME, detail, status=status)
    return PermanentSendError(_NAME, detail, status=status)


def _error_detail(body: bytes | str | None) -> str:
    """SendGrid's ``errors[].message`` joined, or the raw body when it is not that JSON."""
    if not body:
        return ""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(text)["errors"]
        return "; ".join(str(error["message"]) for error in errors)
    except (ValueError, KeyError, TypeError):
        return text.strip()[:500]


def _retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """``Retry-After`` (seconds or an HTTP date), else ``X-RateLimit-Reset`` (epoch seconds)."""
    if headers is None:
        return None
    retry_after = (headers.get("Retry-After") or "").strip()
    if retry_after:
        return float(retry_after) if retry_after.isdigit() else _seconds_until_date(retry_after)
    reset = (headers.get("X-RateLimit-Reset") or "").strip()
    if reset.isdigit():
        return max(0.0, int(reset) - time.time())
    return None


def _seconds_until_date(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC without a claim about the sender's zone
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _drop_header_logs(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("HEADERS:")


logging.getLogger("python_http_client.client").addFilter(_drop_header_logs)
