"""Keep message contents out of every log line: a Dramatiq message shows as ``actor[id]``.

Dramatiq logs a message with ``str(message)``: every argument, which for an email is the
recipients, the template context (a password-reset link is a credential) and each attachment
in base64. It does so from many loggers, some named at run time
(``dramatiq.worker.ConsumerThread(mailer_critical)``, ``dramatiq.worker.WorkerThread``), in
the worker and in any process that enqueues. A filter on named loggers misses the ones it
was not told about, and a filter on a logger does not see records propagated from its
children; so the rewrite happens where every record is made, in the record factory, whatever
logger or handler is in play. An actor's own DEBUG line, its arguments bare, shows only how
many there were. mailer's own log lines carry the id, template and backend, which is what an
operator searches by.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from dramatiq import Message
from dramatiq.broker import MessageProxy

_MESSAGE_TYPES = (Message, MessageProxy)
# What ``Actor.__call__`` logs at DEBUG: the message's arguments themselves, no message around.
_ACTOR_CALL = "Received args=%r kwargs=%r."


class MessageLabel(str):
    """``actor_name[message_id]``, the same under ``%s`` and ``%r``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def label(value: object) -> object:
    """A Dramatiq message as its label; anything else unchanged."""
    if isinstance(value, _MESSAGE_TYPES):
        return MessageLabel(f"{value.actor_name}[{value.message_id}]")
    return value


def redact(record: logging.LogRecord) -> logging.LogRecord:
    """Replace every message in ``record``'s ``msg`` and arguments (tuple or mapping)."""
    record.msg = label(record.msg)
    args = record.args
    if record.msg == _ACTOR_CALL and isinstance(args, tuple) and len(args) == 2:
        record.args = tuple(_hidden(arg) for arg in args)
        return record
    if isinstance(args, tuple) and any(isinstance(arg, _MESSAGE_TYPES) for arg in args):
        record.args = tuple(label(arg) for arg in args)
    elif isinstance(args, Mapping) and any(isinstance(a, _MESSAGE_TYPES) for a in args.values()):
        record.args = {key: label(arg) for key, arg in args.items()}
    return record


def _hidden(arguments: object) -> MessageLabel:
    count = len(arguments) if isinstance(arguments, (tuple, dict)) else "some"
    return MessageLabel(f"<{count} hidden>")


class _RedactingFactory:
    """The record factory in place before, with every record it makes redacted."""

    def __init__(self, wrapped: Callable[..., logging.LogRecord]) -> None:
        self.wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact(self.wrapped(*args, **kwargs))


def install() -> None:
    """Idempotent: wraps the process's record factory once, however often it is called."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))


def uninstall() -> None:
    """Put back the factory that was in place before ``install``, if ours is the current one."""
    current = logging.getLogRecordFactory()
    if isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(current.wrapped)
