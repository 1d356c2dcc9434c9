"""A test's own broker for the actors ``mailer.actors`` declared on the suite's Redis broker."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

import mailer.actors
from mailer.broker import declare_queues, stack


def stub_broker() -> StubBroker:
    """A StubBroker carrying mailer's whole stack and a queue per priority level."""
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
