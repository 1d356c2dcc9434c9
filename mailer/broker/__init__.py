"""The broker and its whole middleware stack, in order, built by an explicit call.

Dramatiq checks an actor's options against the middleware present when the actor is
declared, so everything that owns an option (periodiq's ``periodic``, ``LogDeliveries``'
``sends_email``) is on the broker first: ``mailer.actors`` calls ``setup`` before it declares
any actor. Importing this module does nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq.middleware import CurrentMessage, Middleware, Retries
from periodiq import PeriodiqMiddleware

from mailer import log_redaction
from mailer.broker.redis_broker import RedisBroker
from mailer.middleware.boot import OnBoot
from mailer.middleware.connections import BackendConnections
from mailer.middleware.log_deliveries import LogDeliveries
from mailer.middleware.periodic import OncePerTick
from mailer.middleware.redeliveries import Redeliveries
from mailer.middleware.shutdown import HandBackOnShutdown
from mailer.middleware.stats import StatsLine
from mailer.priorities import LEVELS
from mailer.settings import Settings
from mailer.stores.connection import connect
from mailer.stores.unrecorded import unrecorded_key

# The stack, in order. Dramatiq runs ``before_*`` hooks top down and ``after_*`` hooks bottom
# up, so:
# - Dramatiq's own defaults come first, Prometheus left out (it binds an exporter port in every
#   worker the moment prometheus_client is installed) and ``Retries`` replaced by
#   ``Redeliveries``, which enqueues retries and put-backs where a Redis outage cannot lose
#   them; its ``after_process_message`` runs last, once every other hook has seen the outcome.
# - ``CurrentMessage`` hands each email actor its message (the id, the retry count).
# - ``PeriodiqMiddleware`` owns the ``periodic`` option; ``OncePerTick`` then skips a tick that
#   another scheduler's copy already ran, before any work.
# - ``LogDeliveries`` owns ``sends_email`` and sees that each new email gets its ``queued``
#   record; everything a send does after that is written by the send itself
#   (``mailer.worker.send``).
# - ``StatsLine`` and ``BackendConnections`` only watch or tune the worker. No middleware
#   tunes polling: the broker's consumers block until a message arrives (``consumer``).
# - ``HandBackOnShutdown`` comes after them all, so at the deadline it hands back what is still
#   running once every other ``before_worker_shutdown`` has run.
# - ``OnBoot`` last: the app's subscriber modules load once the stack is complete.


def stack(on_boot: Callable[[], None]) -> list[Middleware]:
    """mailer's whole middleware stack, Dramatiq's included; ``on_boot`` runs in each worker
    process once its modules are imported (``mailer.actors`` passes its subscriber loader)."""
    return [
        *_dramatiq_defaults(),
        CurrentMessage(),
        PeriodiqMiddleware(),
        OncePerTick(),
        LogDeliveries(),
        StatsLine(),
        BackendConnections(),
        HandBackOnShutdown(),
        OnBoot(on_boot),
    ]


def build(settings: Settings, on_boot: Callable[[], None]) -> RedisBroker:
    """The Redis broker for ``settings``, with mailer's stack and a queue per priority level."""
    broker = RedisBroker(
        client=connect(settings.redis_url),  # Dramatiq's own, from a URL, drops the timeout
        unrecorded_key=unrecorded_key(),
        middleware=stack(on_boot),
        heartbeat_timeout=int(settings.heartbeat_timeout_s * 1000),
        # Dramatiq hands a dead worker's messages back in a maintenance pass that runs on a
        # random 0.1 % of its Redis commands, queue by queue: an idle queue is fetched about
        # once a second (its consumer blocks in between), so its messages came back minutes
        # after the heartbeat timeout. On 20 % of fetches they are back seconds after it
        # (enqueues run no pass); a pass without a dead worker is a few sorted-set reads.
        maintenance_chance=200_000,
    )
    declare_queues(broker)
    return broker


def declare_queues(broker: dramatiq.Broker) -> dramatiq.Broker:
    """A queue per priority level, so a fresh worker consumes every level, even one no actor
    uses yet."""
    for level in LEVELS.values():
        broker.declare_queue(level.queue_name)
    return broker


def setup(settings: Settings, on_boot: Callable[[], None]) -> dramatiq.Broker:
    """The process's broker: one the process already set up with mailer's stack (a test's
    stub broker, say), or else a Redis broker built from ``settings`` and made the global one.
    Dramatiq's own log lines stop carrying message contents from here on."""
    log_redaction.install()
    current = dramatiq.get_broker() if _has_global_broker() else None
    if current is not None and _has_mailer_stack(current):
        return current
    broker = build(settings, on_boot)
    dramatiq.set_broker(broker)
    return broker


def _dramatiq_defaults() -> list[Middleware]:
    defaults = dramatiq.middleware.default_middleware
    return [
        Redeliveries() if cls is Retries else cls()
        for cls in defaults
        if cls.__name__ != "Prometheus"
    ]


def _has_global_broker() -> bool:
    return dramatiq.broker.global_broker is not None


def _has_mailer_stack(broker: dramatiq.Broker) -> bool:
    return any(isinstance(middleware, LogDeliveries) for middleware in broker.middleware)
