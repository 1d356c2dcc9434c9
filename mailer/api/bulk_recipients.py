"""The recipients of a ``send_bulk``: the three forms one may take, and the ones refused.

A bad row must not stop a newsletter half way, so a recipient that cannot be mailed is counted
and, up to ``MAX_REJECTED_SAMPLES``, kept with its position and the reason for the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from mailer.errors import InvalidAddress, ValidationError

#: Rejected recipients kept in ``BulkResult.rejected_samples``; the rest are only counted.
MAX_REJECTED_SAMPLES = 100
_SHOWN_CHARS = 254  # of a rejected recipient, as long as the longest valid address

Recipient = str | Mapping[str, Any] | tuple[str, Mapping[str, Any]]


class Rejection(NamedTuple):
    position: int  # in ``recipients``, from 0
    address: str
    reason: str


def check_recipients(recipients: object) -> None:
    """One address or one mapping passed for the iterable would be read a character or a key
    at a time, every one of them rejected: refuse it as the mistake it is."""
    if isinstance(recipients, (str, bytes, Mapping)) or not isinstance(recipients, Iterable):
        raise InvalidAddress(
            "recipients",
            "must be an iterable of recipients (a list, a generator), "
            f"not {type(recipients).__name__}",
        )


def recipient(person: object) -> tuple[object, Mapping[str, Any]]:
    """The address and the recipient's own context, whichever of the three forms they take."""
    if isinstance(person, str):
        return person, {}
    if isinstance(person, Mapping):
        if "email" not in person:
            raise InvalidAddress("email", "the recipient has no 'email' field")
        return person["email"], {k: v for k, v in person.items() if k != "email"}
    if isinstance(person, tuple) and len(person) == 2 and isinstance(person[1], Mapping):
        return person[0], person[1]
    raise InvalidAddress(
        "recipients",
        "expected an address, a mapping with an 'email' field or an (address, context) pair,"
        f" got {type(person).__name__}",
    )


class Rejections:
    def __init__(self) -> None:
        self.count = 0
        self.samples: list[Rejection] = []
        self.duplicates = 0  # rows skipped for an address listed earlier: not rejections

    def add(self, position: int, person: object, err: ValidationError) -> None:
        self.count += 1
        if len(self.samples) < MAX_REJECTED_SAMPLES:
            self.samples.append(Rejection(position, _shown(person), str(err)))


def _shown(person: object) -> str:
    address = person
    if isinstance(person, Mapping):
        address = person.get("email")
    elif isinstance(person, tuple) and person:
        address = person[0]
    return (address if isinstance(address, str) else repr(address))[:_SHOWN_CHARS]
