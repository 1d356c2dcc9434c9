"""Writes one ``.eml`` per message into ``MAILER_OUTBOX_DIR``: open them in any mail client.

Files appear whole or not at all (written aside, then renamed), so a reader watching the
folder never sees half a message.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone

from mailer.backends.console import ConsoleBackend


class FileBackend(ConsoleBackend):
    name = "file"

    def write(self, mime: bytes, provider_id: str) -> None:
        folder = self.settings.outbox_dir
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{stamp}-{provider_id}.eml"
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            handle.write(mime)
        os.replace(temporary, target)
