"""Each worker thread's open backends, kept between its sends.

An SMTP connection (or an HTTP session) is opened once per thread and reused for every message
that thread sends, never shared between threads; ``BackendConnections`` closes them when the
thread stops.
"""

from __future__ import annotations

from mailer.backends import Backend, create_backend
from mailer.settings import Settings
from mailer.worker import state


def thread_backend(settings: Settings, name: str | None = None) -> Backend:
    """This thread's backend ``name`` (default: the primary), created on first use, kept open.

    Each worker thread keeps its own backends, so an SMTP connection (or an HTTP session) is
    opened once and reused for every message that thread sends, never shared between threads.
    """
    name = name or settings.backend
    backends = state.thread_backends()
    backend = backends.get(name)
    if backend is None or backend.settings is not settings:
        if backend is not None:
            backend.close()
        backend = backends[name] = create_backend(settings, name)
    return backend


def close_thread_backends() -> None:
    """Close every backend this thread opened: the primary and, after a failover, the fallback."""
    backends = state.thread_backends()
    opened = list(backends.values())
    backends.clear()
    for backend in opened:
        backend.close()
