"""``publish``: an event, checked in the caller's process, then one message per subscriber.

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
from typing import Any

import dramatiq

from mailer import settings as mailer_settings
from mailer.actors.events import Event, check_topic, load_event_modules, subscribers
from mailer.argument_checks import check_json_object, check_key
from mailer.errors import InvalidPayload, UnknownTopic
from mailer.stores import keys as store
from mailer.stores.batch_enqueue import enqueue_all
from mailer.stores.idempotency_keys import IdempotencyKeys

logger = logging.getLogger(__name__)

#: A payload travels inside a message per subscriber; bulky data belongs in the app's database.
MAX_PAYLOAD_BYTES = 64 * 1024


def publish(topic: str, payload: Mapping[str, Any] | None = None, *, key: str | None = None) -> str:
    """Publish ``payload`` to every subscriber of ``topic``; returns the event's id.

    Raises ``UnknownTopic`` when nobody subscribes (unless ``MAILER_UNKNOWN_TOPICS=ignore``,
    which logs it instead) and ``InvalidPayload`` for a payload that is not a JSON object.
    A second call with the same ``key`` within ``MAILER_IDEMPOTENCY_TTL`` publishes nothing
    and returns the first event's id.
    """
    check_topic(topic)
    checked = check_json_object(payload, "payload", InvalidPayload, max_chars=MAX_PAYLOAD_BYTES)
    load_event_modules()
    listening = subscribers(topic)
    for subscriber in listening:
        subscriber.check(checked)
    event = Event(uuid.uuid4().hex, topic, checked, time.time())
    if not listening:
        return _nobody_listens(event)
    messages = [subscriber.actor.message(event.to_json()) for subscriber in listening]
    if key is None:
        enqueue_all(dramatiq.get_broker(), messages)
        return event.id
    return _publish_once(check_key(key, "key"), event, messages)


def _publish_once(key: str, event: Event, messages: list[dramatiq.Message[Any]]) -> str:
    keys = IdempotencyKeys(store.client(), mailer_settings.current().idempotency_ttl_s)
    earlier = keys.claim(f"event:{key}", event.id)
    if earlier is not None:
        return earlier
    try:
        enqueue_all(dramatiq.get_broker(), messages)
    except BaseException:
        keys.release(f"event:{key}", event.id)
        raise
    return event.id


def _nobody_listens(event: Event) -> str:
    if mailer_settings.current().unknown_topics == "error":
        raise UnknownTopic(
            "topic", f"nobody subscribes to {event.topic!r}{_known_topics(event.topic)}"
        )
    logger.warning("Published %s event %s, which nobody subscribes to.", event.topic, event.id)
    return event.id


def _known_topics(topic: str) -> str:
    from mailer.actors.events import SUBSCRIBERS
    from mailer.stock_flows import FLOWS

    if topic in FLOWS:
        return "; it has a ready flow: add it to MAILER_FLOWS"
    known = sorted(name for name, listed in SUBSCRIBERS.items() if listed)
    return f"; topics with subscribers: {', '.join(known)}" if known else "; none has any"
