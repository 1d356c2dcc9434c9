"""The broker and its middleware, built once, before any actor is declared.

Dramatiq checks an actor's options against the middleware present when the actor is
declared, so everything that owns an option (periodiq's ``periodic`` among them) is added
here, and ``mailer.actors`` imports this module before declaring anything.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, Middleware
from periodiq import PeriodiqMiddleware

from mailer import log_redaction as redaction
from mailer import settings
from mailer.middleware.connections import BackendConnections
from mailer.middleware.log_deliveries import LogDeliveries
from mailer.middleware.periodic import OncePerTick
from mailer.middleware.polling import IdlePolling
from mailer.middleware.rate_limit import RateLimit
from mailer.middleware.record_failures import RecordFailures
from mailer.middleware.send_once import SendOnce
from mailer.middleware.shutdown import HandBackOnShutdown
from mailer.middleware.stats import StatsLine
from mailer.priorities import LEVELS


def add_mailer_middleware(broker: dramatiq.Broker) -> dramatiq.Broker:
    """Put mailer's middleware and queues on a broker: the Redis one, or a test's stub.

    Order matters before a send: the tick and receipt checks skip what must not run and claim
    the message, then it is logged as ``sending``; the send itself takes its rate-limit slot,
    after rendering. Dramatiq runs ``after_*`` hooks in reverse, so Dramatiq's ``Retries`` (first
    in the list) decides last; the log and the failure record write their verdict on ack/nack.
    """
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(PeriodiqMiddleware())
    broker.add_middleware(OncePerTick())
    broker.add_middleware(SendOnce())
    broker.add_middleware(RateLimit())
    broker.add_middleware(LogDeliveries())
    broker.add_middleware(RecordFailures())
    broker.add_middleware(StatsLine())
    broker.add_middleware(BackendConnections())
    broker.add_middleware(IdlePolling())
    broker.add_middleware(HandBackOnShutdown())
    # Declared up front so a fresh worker consumes every level, even one no actor uses yet.
    for level in LEVELS.values():
        broker.declare_queue(level.queue_name)
    return broker


def build_broker(redis_url: str, heartbeat_timeout_s: float = 60.0) -> RedisBroker:
    """``heartbeat_timeout_s`` is how long a dead worker's messages wait to be redelivered."""
    broker = RedisBroker(
        url=redis_url,
        middleware=default_middleware(),
        heartbeat_timeout=int(heartbeat_timeout_s * 1000),
        # Dramatiq hands a dead worker's messages back in a maintenance pass that runs on a
        # random 0.1 % of its Redis commands, queue by queue: an idle queue is fetched about 4
        # times a second, so its messages came back minutes after the heartbeat timeout. On
        # 5 % of commands they are back seconds after it; a pass without a dead worker is one
        # cheap sorted-set read.
        maintenance_chance=50_000,
    )
    add_mailer_middleware(broker)
    return broker


def default_middleware() -> list[Middleware]:
    """Dramatiq's defaults, less Prometheus: it turns itself on whenever prometheus_client
    happens to be installed and binds an exporter port, which must be a deliberate choice."""
    return [cls() for cls in dramatiq.middleware.default_middleware if cls.__name__ != "Prometheus"]


def install(new_broker: dramatiq.Broker) -> dramatiq.Broker:
    """Move every actor declared so far onto ``new_broker`` and make it the global one.

    Tests swap in a ``StubBroker`` this way; returns the broker that was replaced.
    """
    old_broker = dramatiq.get_broker()
    for actor in old_broker.actors.values():
        actor.broker = new_broker
        new_broker.declare_actor(actor)
    dramatiq.set_broker(new_broker)
    return old_broker


redaction.install()
broker = build_broker(settings.current().redis_url, settings.current().heartbeat_timeout_s)
dramatiq.set_broker(broker)
