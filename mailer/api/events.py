"""``publish``: an event, checked in the caller's process, then one message per subscriber;
``subscribe``: what a worker does with it.

The caller learns at once of a topic nobody listens to (usually a typo, or a ready flow not
switched on in ``MAILER_FLOWS``) and of a payload that is not JSON or lacks what a
subscriber requires; nothing is enqueued then. The subscribers' messages are enqueued in one
Redis transaction, so an event reaches all of its subscribers or, if Redis fails, none.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dramatiq
import redis

from mailer import settings as mailer_settings
from mailer import stores
from mailer.api.redis_errors import maps_broker_errors
from mailer.argument_checks import check_json_object, check_key
from mailer.errors import InvalidPayload, UnknownTopic
from mailer.message import Event
from mailer.settings import Settings
from mailer.stores.batch_enqueue import enqueue_all
from mailer.stores.event_log import EventLog

logger = logging.getLogger(__name__)

#: A payload travels inside a message per subscriber; bulky data belongs in the app's database.
MAX_PAYLOAD_BYTES = 64 * 1024
#: The topics ``mailer.stock_flows`` has a ready flow for, kept here as data: that module sits
#: above this one and subscribes when imported, and a hint must not switch flows on.
READY_FLOW_TOPICS = frozenset({"user.registered", "appointment.created", "post.published"})


@maps_broker_errors
def publish(topic: str, payload: Mapping[str, Any] | None = None, *, key: str | None = None) -> str:
    """Publish ``payload`` to every subscriber of ``topic``; returns the event's id.

    Raises ``UnknownTopic`` when nobody subscribes (unless ``MAILER_UNKNOWN_TOPICS=ignore``,
    which logs it instead) and ``InvalidPayload`` for a payload that is not a JSON object.
    A second call with the same ``key`` within ``MAILER_IDEMPOTENCY_TTL`` publishes nothing
    and returns the first event's id. Raises ``BrokerUnavailable`` when Redis is down or loading.
    """
    from mailer.actors.events import check_topic, load_event_modules, subscribers

    settings = mailer_settings.current()
    check_topic(topic)
    checked = check_json_object(payload, "payload", InvalidPayload, max_chars=MAX_PAYLOAD_BYTES)
    load_event_modules()
    listening = subscribers(topic)
    for subscriber in listening:
        subscriber.check(checked)
    event = Event(uuid.uuid4().hex, topic, checked, time.time())
    if not listening:
        return _nobody_listens(settings, event)
    messages = [subscriber.actor.message(event.to_json()) for subscriber in listening]
    if key is None:
        enqueue_all(dramatiq.get_broker(), messages)
    else:
        published = _publish_once(settings, check_key(key, "key"), event, messages)
        if published != event.id:
            return published  # the first event's id: this one was not sent
    subscribed = [(s.name, m.message_id) for s, m in zip(listening, messages, strict=True)]
    _record(settings, event, subscribed)
    return event.id


if TYPE_CHECKING:
    # Type checkers and readers see the one real signature, declared with the actor.
    from mailer.actors.events import subscribe as subscribe
else:

    def subscribe(topic, **options):
        """Run the decorated ``handler(event)`` in a worker for every event published to
        ``topic`` (``mailer.actors.events.subscribe``). Imported when an app module declares
        its first subscriber, so that ``import mailer`` builds no broker."""
        from mailer.actors.events import subscribe as declare

        return declare(topic, **options)


def _publish_once(
    settings: Settings, key: str, event: Event, messages: list[dramatiq.Message[Any]]
) -> str:
    keys = stores.for_settings(settings).idempotency_keys
    earlier = keys.claim(f"event:{key}", event.id)
    if earlier is not None:
        return earlier
    try:
        enqueue_all(dramatiq.get_broker(), messages)
    except BaseException:
        keys.release(f"event:{key}", event.id)
        raise
    return event.id


def _record(settings: Settings, event: Event, subscribed: list[tuple[str, str]]) -> None:
    """For the dashboard's events page; the event is on its way whether or not this lands."""
    try:
        EventLog(stores.for_settings(settings).client).published(
            event.id, event.topic, event.published_at, event.payload, subscribed
        )
    except redis.RedisError as err:
        logger.warning("Could not record event %s for the dashboard: %s", event.id, err)


def _nobody_listens(settings: Settings, event: Event) -> str:
    if settings.unknown_topics == "error":
        raise UnknownTopic(
            "topic", f"nobody subscribes to {event.topic!r}{_known_topics(event.topic)}"
        )
    logger.warning("Published %s event %s, which nobody subscribes to.", event.topic, event.id)
    return event.id


def _known_topics(topic: str) -> str:
    from mailer.actors.events import SUBSCRIBERS

    if topic in READY_FLOW_TOPICS:
        return "; it has a ready flow: add it to MAILER_FLOWS"
    known = sorted(name for name, listed in SUBSCRIBERS.items() if listed)
    return f"; topics with subscribers: {', '.join(known)}" if known else "; none has any"
