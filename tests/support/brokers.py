"""A test's own stub broker for the actors ``mailer.actors`` declared, and ways to wait on it."""

from __future__ import annotations

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from mailer.broker import declare_queues, stack
from mailer.priorities import LEVELS


def stub_broker() -> StubBroker:
    """A StubBroker carrying mailer's whole stack and a queue per priority level."""
    import mailer.actors  # the actors, declared on the suite's Redis broker, to move here

    broker = StubBroker(middleware=stack(on_boot=mailer.actors._load_event_modules))
    declare_queues(broker)
    return broker


def swap_broker(new_broker: dramatiq.Broker) -> dramatiq.Broker:
    """Point every declared actor at ``new_broker`` and make it the global one; returns the
    broker it replaced, for the test to swap back."""
    old_broker = dramatiq.get_broker()
    for actor in old_broker.actors.values():
        actor.broker = new_broker
        new_broker.declare_actor(actor)
    dramatiq.set_broker(new_broker)
    return old_broker


def dead_letters(broker: StubBroker) -> list[dramatiq.Message]:
    return [message for queue in broker.dead_letters_by_queue.values() for message in queue]


def drain(broker: StubBroker, worker: Worker) -> None:
    """Wait until every priority queue and the worker are idle: twice, since a message an
    actor sends (the digest's alert) lands after its queue was joined."""
    for _ in range(2):
        for level in LEVELS.values():
            broker.join(level.queue_name, fail_fast=False)
        worker.join()
