"""Refuse to start a worker that would send news without its one-click unsubscribe link.

A non-transactional email (a newsletter, ``new_post``) must carry ``List-Unsubscribe``; the
link is made from ``MAILER_PUBLIC_URL`` and ``MAILER_SECRET_KEY``. Without them a worker
would send the news with neither the header nor the footer link, and nothing would say so.
The check runs as each worker boots, where Dramatiq lets a ``MiddlewareError`` stop it.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq.middleware import Middleware, MiddlewareError

from mailer import settings
from mailer.errors import ConfigurationError
from mailer.worker.unsubscribe_links import require_links


class NoUnsubscribeLinks(MiddlewareError, ConfigurationError):
    """News is declared and its unsubscribe link cannot be made: the worker does not start."""


class RequireUnsubscribeLinks(Middleware):
    def __init__(self, news_types: Callable[[], list[str]]) -> None:
        """``news_types`` names the declared non-transactional email types."""
        self.news_types = news_types

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        try:
            require_links(settings.current(), sorted(self.news_types()))
        except ConfigurationError as err:
            raise NoUnsubscribeLinks(err.variable, str(err).split(": ", 1)[1]) from None
