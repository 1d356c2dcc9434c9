"""Dramatiq's signals, sent only to the middleware that listen for each.

Dramatiq's ``emit_before`` and ``emit_after`` call every middleware for every signal; most
of them inherit ``Middleware``'s empty method for most signals. mailer's broker has fifteen
middleware and a message goes through six or more signals on its way, so a worker made
about a hundred empty calls per email, and ``send_email`` a few dozen. ``ListenersOnly``
keeps, per signal, the middleware whose class or instance defines the hook, and calls those
as Dramatiq would, in the same order and with the same handling of their errors. The lists
are made again whenever the broker's middleware list changes.
"""

from __future__ import annotations

from typing import Any

from dramatiq.middleware import Middleware, MiddlewareError


class ListenersOnly:
    """Mixed into a Dramatiq broker, ahead of it."""

    middleware: list[Middleware]
    logger: Any

    _listeners: dict[str, list[Middleware]]
    _listeners_of: list[Middleware] | None = None

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        hook = "before_" + signal
        for middleware in self._listening(hook):
            try:
                getattr(middleware, hook)(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical(
                    "Unexpected failure in %s of %r.", hook, middleware, exc_info=True
                )

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        hook = "after_" + signal
        for middleware in reversed(self._listening(hook)):
            try:
                getattr(middleware, hook)(self, *args, **kwargs)
            except Exception:
                self.logger.critical(
                    "Unexpected failure in %s of %r.", hook, middleware, exc_info=True
                )

    def _listening(self, hook: str) -> list[Middleware]:
        if self._listeners_of != self.middleware:
            self._listeners_of, self._listeners = list(self.middleware), {}
        listeners = self._listeners.get(hook)
        if listeners is None:
            listeners = self._listeners[hook] = [m for m in self.middleware if _listens(m, hook)]
        return listeners


def _listens(middleware: Middleware, hook: str) -> bool:
    """Whether ``hook`` on ``middleware`` is anything but ``Middleware``'s empty one."""
    bound = getattr(middleware, hook, None)
    if bound is None:
        return False
    return getattr(bound, "__func__", bound) is not getattr(Middleware, hook, None)
