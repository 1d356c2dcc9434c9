"""Close each worker thread's backend connections when the thread stops.

Backends keep their connection open between messages (``mailer.worker.thread_backends``);
this is the one place that knows when a thread is done, so an SMTP server sees a clean QUIT on
shutdown instead of a dropped socket.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Middleware

from mailer.worker.thread_backends import close_thread_backends


class BackendConnections(Middleware):
    def before_worker_thread_shutdown(self, broker: Any, thread: Any) -> None:
        close_thread_backends()
