"""Run a function in each worker process after its modules are imported, before any message.

Subscribers declared by the app's own modules must be actors before the worker takes an
event off a queue, but those modules import ``mailer``, so they cannot be imported while
``mailer.actors`` itself is being imported. Dramatiq's ``after_process_boot`` is the moment
in between: every module the command named is imported, no worker thread has started yet.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq.middleware import Middleware

from mailer.errors import ConfigurationError


class OnBoot(Middleware):
    def __init__(self, run: Callable[[], None]) -> None:
        self.run = run

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        try:
            self.run()
        except ConfigurationError as err:
            # Dramatiq logs an ``Exception`` from this hook and boots anyway: a worker without
            # the app's subscribers, whose events would dead-letter. SystemExit is no
            # ``Exception``: the process stops, with this one line, before taking a message.
            raise SystemExit(f"mailer: {err}") from None
