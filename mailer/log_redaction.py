"""Keep message contents out of Dramatiq's own log lines.

Dramatiq logs a failed message with ``str(message)``: every argument, which for an email is
the recipients, the template context and each attachment in base64. That puts personal data
in the platform's logs and turns one 10 MB attachment into a 13 MB log line. This filter shows
such a message as ``actor_name[message_id]`` instead; mailer's own log lines already carry
the id, template and backend, which is what an operator searches by.
"""

from __future__ import annotations

import logging

from dramatiq import Message
from dramatiq.broker import MessageProxy

# The Dramatiq logger whose records carry whole messages as arguments.
_LOGGERS = ("dramatiq.worker.WorkerThread",)


class MessageRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_label(arg) for arg in record.args)
        return True


def _label(value: object) -> object:
    if isinstance(value, (Message, MessageProxy)):
        return f"{value.actor_name}[{value.message_id}]"
    return value


def install() -> None:
    """Idempotent: the filter is added once per logger, however often mailer's broker is built."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, MessageRedaction) for existing in logger.filters):
            logger.addFilter(MessageRedaction())
