"""Waiting is not failing: the exception a send raises when its message must come back later.

The rate limit is full, the provider said "slow down", another worker is sending the same
message right now, or Redis cannot be reached: none of these says anything about the email,
so none may spend one of its retries or land it in the dead letters for being on time
(dramatiq #257). A ``Deferred`` is a Dramatiq ``Retry`` (Dramatiq does not log it as an error);
the ``Redeliveries`` middleware turns it into a delayed copy with its retries untouched.
"""

from __future__ import annotations

from typing import Any

import dramatiq


class Deferred(dramatiq.Retry):
    """Send this message again in ``delay_ms``, and say ``reason`` in the log."""

    def __init__(self, delay_ms: int, reason: str, **options: Any) -> None:
        """``options`` go on the message's copy (``claim_token``: the claim it may hold)."""
        self.delay_ms = max(1, int(delay_ms))
        self.reason = reason
        self.options = options
        message = f"deferred by {self.delay_ms} ms: {reason}"
        super().__init__(message, delay=self.delay_ms)  # type: ignore[no-untyped-call]
