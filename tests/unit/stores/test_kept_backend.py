"""A message is kept to the backend a try of it may have handed it to (``begin_send.lua``).

Two providers must never both get one email: once an answer was lost after the handover, or
a try died mid-way, every later try goes through the same backend, open circuit or not. A try
that failed before the handover lets the message go wherever the circuit says.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dramatiq
import pytest

from mailer import stores
from mailer.settings import Settings
from mailer.stores import Stores
from mailer.stores.scripts import Batch
from mailer.stores.send_gate import Gate, Recipients, SendGate


@pytest.fixture
def bundle(redis_url: str) -> Iterator[Stores]:
    configured = Settings(
        redis_url=redis_url, backend="smtp", fallback_backend="file", failover_after=1
    )
    bundle = stores.for_settings(configured)
    yield bundle
    for pattern in ("mailer:failover:*", "mailer:kept:*", "mailer:sending:*", "mailer:log:*"):
        for key in bundle.client.scan_iter(pattern):
            bundle.client.delete(key)


def a_message() -> dramatiq.Message[object]:
    envelope = {"to": ["ann@example.com"]}
    return dramatiq.Message("mailer_normal", "send_welcome", (envelope, {}), {}, {})


def begin(bundle: Stores, message: dramatiq.Message[object]) -> Gate:
    gate = SendGate(
        bundle.receipts,
        bundle.suppression,
        bundle.failover,
        bundle.rate_limiter,
        bundle.delivery_log,
    )
    return gate.begin(message, Recipients(), queued=False, token=uuid.uuid4().hex)


def end_try(bundle: Stores, message_id: str, gate: Gate, *, answer_lost: bool) -> None:
    """What settling a failed try writes: the claim let go, and the mark lifted or kept."""
    batch = Batch(bundle.client)
    bundle.receipts.release_into(batch, message_id, gate.token)
    bundle.failover.try_over_into(batch, message_id, gate.backend, gate.token)
    if answer_lost:
        bundle.failover.keep_into(batch, message_id, gate.backend)
    batch.execute()


def open_circuit(bundle: Stores) -> None:
    bundle.failover.failed("smtp", "smtp 451: try again later")
    assert bundle.failover.status().state == "open"


def test_a_lost_answer_keeps_the_message_to_its_backend_while_the_circuit_is_open(bundle):
    message = a_message()
    first = begin(bundle, message)
    assert (first.verdict, first.backend) == ("go", "smtp")
    end_try(bundle, message.message_id, first, answer_lost=True)

    open_circuit(bundle)
    assert begin(bundle, a_message()).backend == "file"  # any other message fails over
    retry = begin(bundle, message)
    assert (retry.verdict, retry.backend) == ("go", "smtp")
    end_try(bundle, message.message_id, retry, answer_lost=False)  # refused before DATA now
    assert begin(bundle, message).backend == "smtp"  # the first try may still have sent it


def test_a_try_that_failed_before_the_handover_lets_the_message_fail_over(bundle):
    message = a_message()
    first = begin(bundle, message)
    end_try(bundle, message.message_id, first, answer_lost=False)

    open_circuit(bundle)
    assert begin(bundle, message).backend == "file"


def test_a_try_that_died_mid_way_keeps_the_message_to_its_backend(bundle):
    message = a_message()
    first = begin(bundle, message)
    bundle.receipts.release(message.message_id, first.token)  # as the claim's lease runs out

    open_circuit(bundle)
    retry = begin(bundle, message)
    assert retry.backend == "smtp"
    end_try(bundle, message.message_id, retry, answer_lost=False)  # not its own mark to lift
    assert begin(bundle, message).backend == "smtp"
