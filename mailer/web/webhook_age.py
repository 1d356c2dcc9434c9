"""How old a signed webhook request may be; within that age, the replay memory answers."""

from __future__ import annotations

import time

from mailer.provider_events import RefusedEvent

#: How far ahead of this server's clock a signed timestamp may be.
CLOCK_SKEW_S = 300


def check_age(signed_at_s: float, max_age_s: int) -> None:
    """A signed request older than ``max_age_s``, or from the future, is refused: within
    that window the replay memory catches a request sent again, after it this check does."""
    age_s = time.time() - signed_at_s
    if age_s > max_age_s or age_s < -CLOCK_SKEW_S:
        raise RefusedEvent("the request is too old or from the future (check the clock)")
