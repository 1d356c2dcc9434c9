"""An application's sources of people, as ``MAILER_USERS_SOURCE`` and its kin
name them: callables yielding ids lazily, as a generator over a database cursor would."""

from __future__ import annotations

import os
from collections.abc import Iterator

#: How many users ``all_user_ids`` yields; a test's worker gets it in its environment.
COUNT_VARIABLE = "MAILER_TEST_USER_COUNT"


def all_user_ids() -> Iterator[str]:
    """``user-0`` … ``user-<n - 1>``, one at a time, in the same order on every call."""
    for number in range(int(os.environ.get(COUNT_VARIABLE, "25"))):
        yield f"user-{number}"


def admin_user_ids() -> Iterator[int | str]:
    """Admins as an app might keep them: ints and text, one of them also in the setting."""
    yield 2
    yield "ops-lead"


def bad_user_ids() -> Iterator[str]:
    """A user id with a space among good ones: a worker leaves it out of a broadcast."""
    yield "user-a"
    yield "not a user id"
    yield "user-b"


def newsletter_subscribers() -> Iterator[dict[str, str]]:
    """``MAILER_NEWSLETTER_SOURCE``: three readers, as rows with an ``email`` and a ``name``."""
    for number in range(3):
        yield {"email": f"reader{number}@example.com", "name": f"Reader {number}"}
