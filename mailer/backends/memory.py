"""An in-process backend for tests: records what would have been sent and fails on request.

A real backend, not a mock: messages go through the same actor, rendering and MIME building,
and injected failures are the same ``SendError`` types a provider would cause.
"""

from __future__ import annotations

import threading
import uuid
from email.message import EmailMessage

from mailer.backends.base import Backend
from mailer.envelope import Email
from mailer.errors import SendError

_lock = threading.Lock()
_outbox: list[Email] = []
_failures: list[SendError] = []


class MemoryBackend(Backend):
    name = "memory"

    def deliver(self, email: Email) -> str:
        with _lock:
            if _failures:
                raise _failures.pop(0)
            _outbox.append(email)
        return f"memory-{uuid.uuid4().hex}"


def sent() -> list[Email]:
    """What was delivered so far, oldest first."""
    with _lock:
        return list(_outbox)


def sent_mime() -> list[EmailMessage]:
    return [email.to_mime() for email in sent()]


def fail_next(*errors: SendError) -> None:
    """The next sends raise these errors, one each, in order; then sending works again."""
    with _lock:
        _failures.extend(errors)


def reset() -> None:
    with _lock:
        _outbox.clear()
        _failures.clear()
