"""A WSGI app made from ``settings.current()`` on its first request rather than at import.

Importing a module that names such an app (a test, a server's preload) then reads no
settings, needs no dashboard account and builds no broker, and a failed build says what is
missing on each request until the environment is fixed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from mailer import settings as mailer_settings
from mailer.settings import Settings
from mailer.web.http import Environ, StartResponse, WSGIApp


class BuiltOnFirstRequest:
    """``build(settings.current())``, once, on the first request; every request after it
    goes to what was built."""

    def __init__(self, build: Callable[[Settings], WSGIApp]) -> None:
        self._build = build
        self._app: WSGIApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._build(mailer_settings.current())
        return self._app(environ, start_response)
