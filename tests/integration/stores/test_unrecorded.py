"""A new email's ``queued`` record is written out of the caller's process: its enqueue leaves
the message on the log's unrecorded list, and a worker's thread or any read of the log writes
the record from there."""

from __future__ import annotations

import dramatiq
import pytest

import mailer.actors  # noqa: F401  (mailer's Redis broker and its actors)
from mailer import send_email, stores
from mailer.api.rendered import enqueue_rendered, rendered_message
from mailer.envelope import Email
from mailer.middleware.log_deliveries import flush_queued
from mailer.stores import unrecorded
from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.delivery_search import Criteria
from mailer.stores.unrecorded import record_all
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

WELCOME = {"name": "Ann", "app_name": "Acme"}


@pytest.fixture
def log(redis_url: str) -> DeliveryLog:
    assert unrecorded.key_of(dramatiq.get_broker()), "not mailer's Redis broker"
    return DeliveryLog(stores.redis_client(redis_url))


def recorded(log: DeliveryLog, message_id: str) -> bool:
    """Looked at directly: a read through the log would write the record itself."""
    return bool(log.client.exists(log.record_key(message_id)))


def test_send_email_leaves_the_record_to_whoever_reads_the_log_first(log):
    message_id = send_email("welcome", "Ann <ann@example.com>", WELCOME)
    assert not recorded(log, message_id)
    assert log.client.llen(log.unrecorded_key) == 1

    delivery = log.get(message_id)  # no worker runs: the read writes it
    assert delivery is not None
    assert (delivery.status, delivery.template, delivery.to) == (
        "queued",
        "welcome",
        ["Ann <ann@example.com>"],
    )
    assert log.client.llen(log.unrecorded_key) == 0
    assert [d.message_id for d in log.search(to="ann@example.com")] == [message_id]


def test_a_search_finds_every_email_sent_before_it(log):
    ids = {send_email("welcome", f"user{i}@example.com", WELCOME) for i in range(450)}
    page = log.search_page(Criteria.matching(template="welcome"), limit=500)  # 3 batches
    assert {d.message_id for d in page} == ids and len(page) == 450


def test_a_record_a_worker_wrote_first_is_left_as_it_is(log):
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    [message] = [dramatiq.Message.decode(d) for d in log.client.lrange(log.unrecorded_key, 0, -1)]
    log.sending(message)  # the worker took it before anyone recorded it
    assert record_all(log) == 1
    assert log.get(message_id).status == "sending"


def test_flush_queued_writes_them_now(log):
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    assert flush_queued()
    assert recorded(log, message_id) and log.client.llen(log.unrecorded_key) == 0


def test_emails_queued_all_or_none_are_left_for_their_records_too(log):
    email = Email(to=["ann@example.com"], from_email="", subject="Hi", text="Hello")
    [message_id] = enqueue_rendered([rendered_message(email)])
    assert not recorded(log, message_id)
    assert log.get(message_id).status == "queued"


def test_a_worker_records_new_emails_it_is_not_sending(log, smtp_sink, start_worker):
    # This worker consumes the critical queue alone: a welcome email (high) waits, and the
    # worker's thread writes its record, with nobody reading the log.
    env = {**smtp_sink.env(), "MAILER_FROM": "shop@example.com"}
    worker = start_worker(env, extra_args=("--queues", "mailer_critical"))
    message_id = send_email("welcome", "ann@example.com", WELCOME)
    assert wait_until(lambda: recorded(log, message_id), 5), worker.log()
    assert log.client.llen(log.unrecorded_key) == 0
    assert log.get(message_id).status == "queued"
    assert smtp_sink.messages == []
