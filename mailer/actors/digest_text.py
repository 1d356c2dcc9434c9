"""The words of the daily failure digest: a week of ``Failure`` records summed up for people.

``digest_context`` turns the failure log's records into the ``admin_alert`` template's context
(subject, summary, the latest dead emails one by one); ``send_failure_digest`` sends it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from mailer.stores.failure_log import Failure

#: How many dead emails the digest lists one by one, and how many distinct errors it counts.
DIGEST_DETAILS = 20
DIGEST_ERRORS = 5
_MAX_ERROR_CHARS = 300
# An address inside an error text: masked when errors are grouped, so that the same refusal
# for a hundred recipients counts as one error, not a hundred.
_ADDRESS = re.compile(r"[^\s<>(),;:\"']+@[^\s<>(),;:\"']+")


def digest_context(failures: Sequence[Failure], *, hours: int = 24) -> dict[str, Any] | None:
    """The ``admin_alert`` context summing up ``failures``; None when there is nothing to say.

    An email that failed for good is counted once however often it was tried before; attempts
    that failed and were retried are counted apart, since most of them went through later.
    """
    if not failures:
        return None
    newest_first = sorted(failures, key=lambda failure: failure.at, reverse=True)
    dead = _latest_per_message([failure for failure in newest_first if failure.final])
    retried = [failure for failure in newest_first if not failure.final]
    return {
        "subject": _subject(len(dead), len(retried), hours),
        "message": "\n".join(_summary(dead, retried)),
        "details": _details(dead[:DIGEST_DETAILS]),
        "occurred_at": datetime.fromtimestamp(newest_first[0].at, timezone.utc).isoformat(),
    }


def _latest_per_message(failures: list[Failure]) -> list[Failure]:
    seen: set[str] = set()
    latest = []
    for failure in failures:
        if failure.message_id not in seen:
            seen.add(failure.message_id)
            latest.append(failure)
    return latest


def _subject(dead: int, retried: int, hours: int) -> str:
    if dead:
        return f"{_plural(dead, 'email')} failed in the last {hours} h"
    attempts = _plural(retried, "sending attempt")
    return f"{attempts} failed and {_were(retried)} retried in the last {hours} h"


def _summary(dead: list[Failure], retried: list[Failure]) -> list[str]:
    lines = []
    if dead:
        lines.append(
            f"{_plural(len(dead), 'email')} could not be delivered and will not be retried."
        )
    if retried:
        lines.append(
            f"{_plural(len(retried), 'attempt')} failed and {_were(len(retried))} retried."
        )
    lines += ["By email type: " + _per_template(dead, retried) + ".", "Most common errors:"]
    errors = Counter(_error_kind(failure.error) for failure in (*dead, *retried))
    lines += [f"- {count}x {error}" for error, count in errors.most_common(DIGEST_ERRORS)]
    return lines


def _per_template(dead: list[Failure], retried: list[Failure]) -> str:
    """``welcome: 3 failed, 10 retried; new_post: 1 retried``, the most failed first."""
    failed = Counter(failure.template for failure in dead)
    tried = Counter(failure.template for failure in retried)
    names = sorted(
        failed.keys() | tried.keys(), key=lambda name: (-failed[name], -tried[name], name)
    )
    return "; ".join(f"{name}: {_counts(failed[name], tried[name])}" for name in names)


def _counts(failed: int, retried: int) -> str:
    counts = [f"{failed} failed"] if failed else []
    if retried:
        counts.append(f"{retried} retried")
    return ", ".join(counts)


def _error_kind(error: str) -> str:
    return _ADDRESS.sub("<address>", error)[:_MAX_ERROR_CHARS]


def _details(dead: list[Failure]) -> dict[str, str]:
    """``"password_reset to ann@example.com" → error``, newest first, each label unique."""
    details: dict[str, str] = {}
    for failure in dead:
        label = base = f"{failure.template} to {', '.join(failure.to)}"
        copy = 1
        while label in details:
            copy += 1
            label = f"{base} ({copy})"
        details[label] = failure.error[:_MAX_ERROR_CHARS]
    return details


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _were(count: int) -> str:
    return "was" if count == 1 else "were"
