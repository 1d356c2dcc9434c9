"""The wire format of a ``send_<type>`` message: the one module that knows it.

An email type ``welcome`` is the actor ``send_welcome``; its message's arguments are
``(envelope, context)``: the envelope is ``Email.to_json()`` (recipients, headers,
attachments; ``mailer.envelope``), the context is the template's variables. Everything that
reads such a message (the delivery log, the failure log, schedules, the dead letters, the
dashboard) asks the functions here instead of knowing the layout.

A bulk send builds the same JSON from parts (``MessageParts``): every recipient's message of a
newsletter is the same but for the address, maybe a context, and its ids. Encoding the shared
parts once and putting each recipient's in by string makes the same bytes
``dramatiq.Message(...).encode()`` would, at a third of the cost, which is most of what
queueing 100,000 messages costs in Python.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

ENCODE = functools.partial(json.dumps, separators=(",", ":"))  # as dramatiq's JSONEncoder

_ACTOR_PREFIX = "send_"
#: The actor option that marks an email actor; every middleware that treats emails apart
#: asks ``sends_email``.
SENDS_EMAIL = "sends_email"


def actor_name(template: str) -> str:
    """The actor that sends the email type ``template``."""
    return _ACTOR_PREFIX + template


def template_of(message: dramatiq.Message[Any] | MessageProxy) -> str:
    """The email type a ``send_<type>`` message sends."""
    return message.actor_name.removeprefix(_ACTOR_PREFIX)


def envelope_of(message: dramatiq.Message[Any] | MessageProxy) -> dict[str, Any]:
    """The envelope (``Email.to_json()``) a message carries; empty if it is not an email."""
    envelope = message.args[0] if message.args else None
    return envelope if isinstance(envelope, dict) else {}


def context_of(message: dramatiq.Message[Any] | MessageProxy) -> dict[str, Any]:
    """The template context a message carries; empty if it is not an email."""
    context = message.args[1] if len(message.args) > 1 else None
    return context if isinstance(context, dict) else {}


def recipients_of(message: dramatiq.Message[Any] | MessageProxy) -> list[str]:
    """The envelope's ``To``: what an operator recognises the email by."""
    return [str(address) for address in envelope_of(message).get("to", [])]


@dataclass(frozen=True)
class Event:
    """What ``publish`` sends each subscriber: the one argument of its actor, as JSON."""

    id: str
    topic: str
    payload: Mapping[str, Any]
    published_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "payload": dict(self.payload),
            "published_at": self.published_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(data["id"], data["topic"], data["payload"], float(data["published_at"]))


def sends_email(broker: dramatiq.Broker, message: dramatiq.Message[Any] | MessageProxy) -> bool:
    """The ``sends_email`` option as Dramatiq resolves one: the message's own, else its
    actor's."""
    if SENDS_EMAIL in message.options:
        return bool(message.options[SENDS_EMAIL])
    return bool(broker.get_actor(message.actor_name).options.get(SENDS_EMAIL, False))


def is_new_email(broker: dramatiq.Broker, message: dramatiq.Message[Any]) -> bool:
    """An email message starting out (new, fired or requeued), whose delivery log record is
    to be written: not a retry or a put-back copy, whose record exists (a requeue from the
    dead letters resets both counts)."""
    if message.options.get("retries") or message.options.get("deferrals"):
        return False
    return sends_email(broker, message)


class MessageParts:
    """A message's JSON in pieces: what every recipient's message shares, encoded once.

    ``message(...)`` puts a recipient's address, context (None: the shared one) and ids in;
    the result decodes to exactly the dict Dramatiq's encoder makes of a ``Message``.
    """

    def __init__(self, prototype: dict[str, Any], bulk_id: str) -> None:
        self.queue_name: str = prototype["queue_name"]
        envelope, context = prototype["args"]
        rest = {k: v for k, v in envelope.items() if k != "to"}
        self.envelope_rest = ENCODE(rest)[1:]  # '"from_email":...}', after the "to" field
        self.context = ENCODE(context)
        self.head = (
            f'{{"queue_name":{ENCODE(self.queue_name)},'
            f'"actor_name":{ENCODE(prototype["actor_name"])},"args":[{{"to":'
        )
        self.kwargs = ENCODE(prototype["kwargs"])
        self.bulk_option = ENCODE(bulk_id)

    def message(
        self, to: str, context: dict[str, Any] | None, message_id: str, redis_id: str, at_ms: int
    ) -> bytes:
        comma = "," if self.envelope_rest != "}" else ""
        own = self.context if context is None else ENCODE(context)
        options = f'{{"bulk_id":{self.bulk_option},"redis_message_id":"{redis_id}"}}'
        return (
            f"{self.head}{json_list(to)}{comma}{self.envelope_rest},{own}],"
            f'"kwargs":{self.kwargs},"options":{options},'
            f'"message_id":"{message_id}","message_timestamp":{at_ms}}}'
        ).encode()


def json_list(text: str) -> str:
    """``json.dumps([text])``, without the encoder for the usual plain address."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'["{text}"]'
    return ENCODE([text])


def uuid5(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` at a third of the cost: it runs per recipient."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
