"""The user sources the documentation's app names in its settings (``MAILER_USERS_SOURCE``,
``MAILER_NEWSLETTER_SOURCE``), as an app would write them over its database."""

from __future__ import annotations

from collections.abc import Iterator


def all_user_ids() -> Iterator[int]:
    yield from range(1, 51)


def newsletter_subscribers() -> Iterator[dict[str, str]]:
    for n in range(1, 11):
        yield {"email": f"reader{n}@example.com", "name": f"Reader {n}"}
