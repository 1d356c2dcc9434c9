"""The dashboard's own pages, one module per subject, each handler ``(request, services)``.

Handlers receive what they read and change through ``Services`` rather than reaching for
globals, so a test builds the dashboard on whatever settings it likes.
"""

from __future__ import annotations

from dataclasses import dataclass

from dramatiq.brokers.redis import RedisBroker

from mailer.settings import Settings
from mailer.stores import Stores
from mailer.stores.dead_letters import DeadLetters
from mailer.stores.delivery_log import DeliveryLog
from mailer.templates import Templates
from mailer.web.stored_messages import MessageFinder


@dataclass(frozen=True)
class Services:
    settings: Settings
    broker: RedisBroker
    log: DeliveryLog
    dead_letters: DeadLetters
    finder: MessageFinder
    templates: Templates
    stores: Stores
