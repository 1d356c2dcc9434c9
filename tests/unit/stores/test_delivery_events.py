"""Provider events applied to the delivery log and the suppression list, each once."""

from __future__ import annotations

import pytest

from mailer.provider_events import ProviderEvent
from mailer.stores import keys as store
from mailer.stores import redis_client
from mailer.stores.delivery_events import DeliveryEvents
from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.suppression import SuppressionList
from mailer.web import metrics
from tests.support.provider_signing import sent_record as sent


@pytest.fixture
def client(redis_url):
    client = redis_client(redis_url)
    for key in client.scan_iter(store.key("*")):
        client.delete(key)
    return client


def event(status, n=1, **fields) -> ProviderEvent:
    values = {"provider": "sendgrid", "event_id": f"e-{status}-{n}", "status": status, "at": 1.0}
    return ProviderEvent(**{**values, **fields})


def test_an_event_finds_its_record_by_message_id_or_provider_id(client):
    by_message, by_provider = sent(client, provider_id="p-1"), sent(client, provider_id="p-2")
    done = DeliveryEvents(client).apply(
        [
            event("delivered", 1, message_id=by_message),
            event("delivered", 2, provider_id="p-2"),
            event("delivered", 3, provider_id="p-unknown"),
        ]
    )
    assert (done.applied, done.duplicates, done.unmatched) == (2, 0, 1)
    log = DeliveryLog(client)
    for message_id in (by_message, by_provider):
        delivery = log.get(message_id)
        assert delivery.status == "delivered"
        assert [a.outcome for a in delivery.attempts] == ["sent", "delivered"]
    assert {d.message_id for d in log.search(status="delivered")} == {by_message, by_provider}
    assert log.search(status="sent") == []


def test_the_status_moves_only_forward_and_every_event_is_kept(client):
    message_id = sent(client)
    events = DeliveryEvents(client)
    events.apply([event("opened", message_id=message_id)])
    events.apply([event("delivered", message_id=message_id)])  # late: opened stays
    assert DeliveryLog(client).get(message_id).status == "opened"
    events.apply([event("bounced", message_id=message_id, detail="550 gone")])
    delivery = DeliveryLog(client).get(message_id)
    assert (delivery.status, delivery.error) == ("bounced", "550 gone")
    assert [a.outcome for a in delivery.attempts] == ["sent", "opened", "delivered", "bounced"]


def test_hard_bounces_and_complaints_suppress_with_their_reason_and_soft_ones_do_not(client):
    message_id = sent(client)
    DeliveryEvents(client).apply(
        [
            event(
                "bounced",
                1,
                message_id=message_id,
                recipients=("Ann <Ann@Example.com>",),
                suppress="bounced",
            ),
            event("complained", 2, recipients=("bob@example.com",), suppress="complained"),
            event("bounced", 3, recipients=("cy@example.com",)),
        ]
    )
    suppressed = SuppressionList(client)
    assert suppressed.get("ann@example.com").reason == "bounced"
    assert suppressed.get("bob@example.com").reason == "complained"  # no record: still listed
    assert suppressed.get("cy@example.com") is None


def test_an_event_seen_before_is_skipped_and_a_replayed_request_changes_nothing(client):
    message_id = sent(client)
    events = DeliveryEvents(client)
    first = events.apply([event("opened", message_id=message_id)], request="r-1", request_ttl_s=60)
    assert first.applied == 1
    again = events.apply([event("opened", message_id=message_id)], request="r-2", request_ttl_s=60)
    assert (again.applied, again.duplicates) == (0, 1)
    clicked = event("clicked", message_id=message_id)
    assert events.apply([clicked], request="r-1", request_ttl_s=60) is None
    delivery = DeliveryLog(client).get(message_id)
    assert delivery.status == "opened"
    assert [a.outcome for a in delivery.attempts] == ["sent", "opened"]


def test_events_are_counted_in_the_metrics_by_status_provider_and_type(client):
    message_id = sent(client)
    DeliveryEvents(client).apply(
        [event("delivered", message_id=message_id), event("opened", message_id=message_id)]
    )
    exposition = metrics.render(DeliveryLog(client)).decode()
    assert (
        'mailer_emails_total{backend="sendgrid",event="delivered",template="welcome"} 1.0'
        in exposition
    )
    assert (
        'mailer_emails_total{backend="sendgrid",event="opened",template="welcome"} 1.0'
        in exposition
    )


def test_a_batch_larger_than_a_part_is_applied_whole_and_replayed_as_a_whole(client):
    ids = [sent(client, provider_id=f"p-{n}") for n in range(250)]
    events = DeliveryEvents(client)
    batch = [event("delivered", n, message_id=i) for n, i in enumerate(ids)]
    done = events.apply(batch, request="big", request_ttl_s=60)
    assert (done.applied, done.duplicates, done.unmatched) == (250, 0, 0)
    later = [event("clicked", n, message_id=i) for n, i in enumerate(ids)]
    assert events.apply(later, request="big", request_ttl_s=60) is None
    log = DeliveryLog(client)
    assert {log.get(i).status for i in ids} == {"delivered"}
