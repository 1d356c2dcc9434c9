"""Prints each message as MIME to a stream: see what would be sent without sending it."""

from __future__ import annotations

import sys
import threading
import uuid
from typing import TextIO

from mailer.backends.base import Backend
from mailer.envelope import Email
from mailer.settings import Settings

_lock = threading.Lock()  # one message at a time, so threads never interleave their output


class ConsoleBackend(Backend):
    name = "console"

    def __init__(self, settings: Settings, stream: TextIO | None = None) -> None:
        super().__init__(settings)
        self.stream = stream

    def deliver(self, email: Email) -> str:
        provider_id = f"{self.name}-{uuid.uuid4().hex}"
        self.write(email.to_bytes(), provider_id)
        return provider_id

    def write(self, mime: bytes, provider_id: str) -> None:
        stream = self.stream or sys.stdout
        with _lock:
            stream.write(mime.decode("utf-8", errors="replace").replace("\r\n", "\n"))
            stream.write("\n" + "-" * 79 + "\n")
            stream.flush()
