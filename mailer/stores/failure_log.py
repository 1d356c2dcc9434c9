"""A week of failed sends in Redis, and the daily digest that tells the administrators.

Dead letters say what failed for good, but not what kept failing and then went through, nor
why: each worker records every failed attempt here (``RecordFailures``), with the error the
provider gave, so one email a day can say which email types fail, to whom, and how.

The log is one sorted set of JSON scored by time, trimmed by age and by count on every write,
so a provider outage that fails a million sends still costs a bounded few megabytes.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from mailer.settings import Settings
from mailer.stores import keys as store
from mailer.stores.scripts import Batch

KEEP_S = 7 * 24 * 3600
MAX_ENTRIES = 10_000
#: How many dead emails the digest lists one by one, and how many distinct errors it counts.
DIGEST_DETAILS = 20
DIGEST_ERRORS = 5
_MAX_ERROR_CHARS = 300
# An address inside an error text: masked when errors are grouped, so that the same refusal
# for a hundred recipients counts as one error, not a hundred.
_ADDRESS = re.compile(r"[^\s<>(),;:\"']+@[^\s<>(),;:\"']+")


@dataclass(frozen=True)
class Failure:
    """One failed attempt to send ``message_id``; ``final`` when it was dead-lettered.

    ``retries`` is Dramatiq's count once it has dealt with the attempt: the failed attempts so
    far, this one included unless it failed permanently at once.
    """

    message_id: str
    template: str
    to: list[str]
    error: str
    final: bool
    retries: int
    at: float


class FailureLog:
    """Failed attempts of the last ``keep_s`` seconds, at most ``max_entries`` of them."""

    def __init__(
        self, client: redis.Redis, *, keep_s: int = KEEP_S, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.client = client
        self.keep_s = keep_s
        self.max_entries = max_entries
        self.key = store.key("failures")

    def record(
        self,
        *,
        message_id: str,
        template: str,
        to: list[str],
        error: str,
        final: bool,
        retries: int,
        at: float | None = None,
    ) -> Failure:
        """Add one failure and drop what is too old or too many, in one round trip."""
        at = time.time() if at is None else at
        failure = Failure(message_id, template, list(to), error, final, retries, at)
        batch = Batch(self.client)
        self.add_into(batch, failure)
        batch.execute()
        return failure

    def add_into(self, batch: Batch, failure: Failure) -> None:
        """``record`` as part of ``batch``."""
        now, pipe = time.time(), batch.pipe
        pipe.zadd(self.key, {json.dumps(asdict(failure)): failure.at})
        pipe.zremrangebyscore(self.key, "-inf", f"({now - self.keep_s}")
        pipe.zremrangebyrank(self.key, 0, -self.max_entries - 1)
        pipe.expire(self.key, self.keep_s)

    def since(self, t: float) -> list[Failure]:
        """Failures at or after epoch second ``t``, newest first."""
        return [_decode(raw) for raw in self.client.zrevrangebyscore(self.key, "+inf", t)]


def _decode(raw: bytes) -> Failure:
    data: dict[str, Any] = json.loads(raw)
    return Failure(**data)


def for_settings(settings: Settings) -> FailureLog:
    """The log in the configured Redis, shared by every worker, kept for the default week."""
    return FailureLog(store.client(settings.redis_url))


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
