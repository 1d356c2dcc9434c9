"""Loaded into a benchmark worker after ``mailer.actors``: a new connection for every message.

The baseline of ``bench.throughput``. Closing the thread's backend after each message makes the
next one connect, read the greeting and say EHLO again, as a mailer without connection reuse
would, and nothing else about the worker changes::

    dramatiq mailer.actors bench.one_connection_per_message --processes 1 --threads 8
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq import Middleware

from mailer.worker.thread_backends import close_thread_backends


class OneConnectionPerMessage(Middleware):
    """Close this worker thread's backend once its message is done, sent or failed."""

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        close_thread_backends()


dramatiq.get_broker().add_middleware(OneConnectionPerMessage())
