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


class OnBoot(Middleware):
    def __init__(self, run: Callable[[], None]) -> None:
        self.run = run

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        self.run()
