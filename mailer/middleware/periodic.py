"""Run each periodic tick once, however many ``periodiq`` schedulers enqueued it.

periodiq is a single-process scheduler: two of them (a second dyno, a deploy overlapping the
old one) each enqueue every tick. The first worker to take a tick's message claims the tick
in Redis; the other copies are skipped. A tick is named by its actor and its scheduled
instant, compared as a timestamp so schedulers in different time zones agree.
"""

from __future__ import annotations

import logging
from datetime import datetime

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from mailer import settings, stores
from mailer.stores.ticks import TickClaims

logger = logging.getLogger(__name__)


class OncePerTick(Middleware):
    def before_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message[object]
    ) -> None:
        scheduled_at = message.options.get("scheduled_at")
        if scheduled_at is None or "periodic" not in broker.get_actor(message.actor_name).options:
            return  # not a tick: a message sent by hand runs every time
        instant = int(datetime.fromisoformat(scheduled_at).timestamp())
        claims = TickClaims(stores.redis_client(settings.current().redis_url))
        if not claims.claim(message.actor_name, instant, message.message_id):
            logger.info(
                "Skipped %s tick at %s: another scheduler's copy ran it.",
                message.actor_name,
                scheduled_at,
            )
            raise SkipMessage("tick already run")
