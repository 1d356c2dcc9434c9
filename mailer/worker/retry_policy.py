"""Whether a failed attempt is the message's last: the verdict Dramatiq's ``Retries`` reaches.

The send writes its outcome (``retrying`` or ``dead``) in the same round trip as the rest of its
bookkeeping, before Dramatiq's hooks run, so it works the verdict out the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dramatiq

#: Dramatiq's ``Retries`` default, for an actor that names no ``max_retries``.
DEFAULT_MAX_RETRIES = 20


def retries_after(
    message: dramatiq.Message[Any], actor_options: Mapping[str, Any], exception: BaseException
) -> int:
    """The message's retry count once Dramatiq has counted this failure: an exception the
    actor ``throws`` is not counted, any other is."""
    retries = int(message.options.get("retries", 0))
    return retries if _thrown(message, actor_options, exception) else retries + 1


def is_final(
    message: dramatiq.Message[Any], actor_options: Mapping[str, Any], exception: BaseException
) -> bool:
    """True when this failure sends the message to the dead letters instead of a retry."""
    if _thrown(message, actor_options, exception):
        return True
    max_retries = message.options.get(
        "max_retries", actor_options.get("max_retries", DEFAULT_MAX_RETRIES)
    )
    return max_retries is not None and message.options.get("retries", 0) >= max_retries


def _thrown(
    message: dramatiq.Message[Any], actor_options: Mapping[str, Any], exception: BaseException
) -> bool:
    throws = message.options.get("throws") or actor_options.get("throws")
    return throws is not None and isinstance(exception, throws)
