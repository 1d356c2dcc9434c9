"""Searching the delivery log: indexes by address prefix, domain, type and status, pages
with exact totals."""

from __future__ import annotations

import time
import uuid
from typing import Any

import dramatiq
import pytest

from mailer import stores
from mailer.stores import keys as store
from mailer.stores import redis_client
from mailer.stores.delivery_log import Attempt, DeliveryLog
from mailer.stores.delivery_search import Criteria


@pytest.fixture
def log(mailer_settings: Any, redis_url: str) -> DeliveryLog:
    client = redis_client(redis_url)
    for key in client.scan_iter(store.key("*")):
        client.delete(key)
    return stores.for_settings(mailer_settings).delivery_log


def _message(
    template: str, *to: str, at: float | None = None, ends: str = ""
) -> dramatiq.Message[Any]:
    """``ends``: the last characters of its id, which say whether its writes trim."""
    message_id = str(uuid.uuid4())[: -len(ends) or None] + ends
    return dramatiq.Message(
        queue_name="mailer_normal",
        actor_name=f"send_{template}",
        args=({"to": list(to)}, {}),
        kwargs={},
        options={},
        message_id=message_id,
        message_timestamp=int((at or time.time()) * 1000),
    )


def _queue(
    log: DeliveryLog, template: str, *to: str, at: float | None = None, ends: str = ""
) -> str:
    message = _message(template, *to, at=at, ends=ends)
    log.queued_all([message])
    return message.message_id


def _settle(log: DeliveryLog, message_id: str, template: str, status: str) -> None:
    log.settled(message_id, template, status, Attempt(time.time(), status, "memory"))


def _ids(log: DeliveryLog, **criteria: Any) -> list[str]:
    return [d.message_id for d in log.search_page(Criteria(**criteria)).deliveries]


def test_an_address_prefix_finds_every_address_it_starts(log: DeliveryLog) -> None:
    user5 = _queue(log, "welcome", "User5 <User5@example.com>")
    user50 = _queue(log, "welcome", "user50@example.org")
    _queue(log, "welcome", "user6@example.com")
    assert set(_ids(log, address_prefix="user5")) == {user5, user50}
    assert _ids(log, address_prefix="user50@") == [user50]
    assert _ids(log, address_prefix="nobody") == []
    assert log.search(to="USER5@example.COM") == log.search(to="user5@example.com")


def test_a_domain_and_a_type_find_their_records_by_status(log: DeliveryLog) -> None:
    ann = _queue(log, "welcome", "ann@example.com")
    bob = _queue(log, "new_post", "bob@example.com")
    _queue(log, "welcome", "cy@other.test")
    _settle(log, ann, "welcome", "sent")
    assert set(_ids(log, domain="example.com")) == {ann, bob}
    assert _ids(log, domain="example.com", status="sent") == [ann]
    assert _ids(log, template="welcome", status="sent") == [ann]
    assert _ids(log, template="welcome", status="queued") != [ann]  # moved out of queued
    assert ann not in _ids(log, template="welcome", status="queued")
    assert _ids(log, template="new_post", domain="example.com") == [bob]
    assert _ids(log, address_prefix="ann", status="sent") == [ann]
    assert _ids(log, address_prefix="ann", status="queued") == []
    assert [d.message_id for d in log.search(to="@example.com", status="queued")] == [bob]


def test_pages_carry_the_exact_total_newest_first(log: DeliveryLog) -> None:
    start = int(time.time()) - 100
    ids = [_queue(log, "new_post", f"reader{i}@example.com", at=start + i) for i in range(25)]
    page = log.search_page(Criteria(template="new_post"), offset=10, limit=10)
    assert page.total == 25
    assert [d.message_id for d in page.deliveries] == ids[::-1][10:20]
    prefixed = log.search_page(Criteria(address_prefix="reader1"), offset=5, limit=5)
    assert prefixed.total == 11  # reader1 and reader10..reader19
    assert len(prefixed.deliveries) == 5
    windowed = log.search_page(Criteria(since=start + 20, until=start + 22))
    assert [d.message_id for d in windowed.deliveries] == ids[22:19:-1]
    assert windowed.total == 3


def test_a_prefix_pages_through_every_match_once_by_address(log: DeliveryLog) -> None:
    ids = {_queue(log, "welcome", f"ann{i % 4}@example.com") for i in range(10)}
    seen: list[str] = []
    for offset in range(0, 12, 3):
        page = log.search_page(Criteria(address_prefix="ann"), offset=offset, limit=3)
        assert page.total == 10
        seen += [d.message_id for d in page.deliveries]
    assert len(seen) == 10 and set(seen) == ids
    addresses = [log.get(i).to[0] for i in seen]  # type: ignore[union-attr]
    assert addresses == sorted(addresses)  # by address, then newest first for each
    one = seen[4]
    _settle(log, one, "welcome", "dead")
    assert _ids(log, address_prefix="ann", status="dead") == [one]
    assert log.search_page(Criteria(address_prefix="ann", status="queued")).total == 9


def test_an_email_in_flight_is_found_by_every_facet_without_twins(log: DeliveryLog) -> None:
    """``sending`` lasts a send's milliseconds: its records stay out of the facets' status
    twins, and a search for them intersects the facet with the status's own index."""
    ann, bob = _message("welcome", "ann@example.com"), _message("welcome", "bob@other.test")
    log.queued_all([ann, bob])
    log.sending(ann)
    assert _ids(log, status="sending") == [ann.message_id]
    for criteria in (
        {"template": "welcome"},
        {"domain": "example.com"},
        {"address_prefix": "an"},
        {"address_prefix": "ann@example.com"},
        {"template": "welcome", "domain": "example.com"},
        {"template": "welcome", "address_prefix": "a"},
    ):
        assert _ids(log, status="sending", **criteria) == [ann.message_id], criteria
    assert _ids(log, status="sending", address_prefix="bob") == []
    assert _ids(log, status="queued", template="welcome") == [bob.message_id]
    assert list(log.client.scan_iter(log.index_key("*", "status", "sending"))) == []
    _settle(log, ann.message_id, "welcome", "sent")
    assert _ids(log, status="sending") == []
    assert _ids(log, status="sent", address_prefix="ann") == [ann.message_id]
    assert _ids(log, status="sent", template="welcome") == [ann.message_id]


def test_a_write_trims_the_indexes_it_touches_when_its_id_says_so(log: DeliveryLog) -> None:
    """One id in eight (ending in 0 or 8) trims; the others leave the stale entries be."""
    stale = time.time() - log.retention_s - 60
    old = _queue(log, "welcome", "old@example.com", at=stale, ends="1")
    addresses, seen = log.index_key("addresses"), log.index_key("addresses", "seen")
    log.client.zadd(addresses, {"gone@example.com": 0})
    log.client.zadd(seen, {"gone@example.com": stale})  # not written to since
    every = log.index_key("all")
    _queue(log, "welcome", "new@example.com", ends="3")
    assert log.client.zscore(every, old) is not None
    assert log.client.zscore(seen, "gone@example.com") is not None
    _queue(log, "welcome", "newer@example.com", ends="8")
    for index in (every, log.index_key("template", "welcome"), log.index_key("status", "queued")):
        assert log.client.zscore(index, old) is None, index
    assert log.client.zscore(addresses, "gone@example.com") is None
    assert log.client.zscore(seen, "gone@example.com") is None
    assert log.client.zscore(log.index_key("to", "old@example.com"), old) is not None
    assert log.client.ttl(log.index_key("to", "old@example.com")) > 0  # leaves in time


def test_no_search_finds_or_counts_a_record_older_than_the_retention(log: DeliveryLog) -> None:
    stale = time.time() - log.retention_s - 60
    old = _queue(log, "welcome", "ann.old@example.com", at=stale, ends="1")
    new = _queue(log, "welcome", "ann.new@example.com", ends="1")
    assert log.client.zscore(log.index_key("all"), old) is not None  # not trimmed yet
    for criteria in (
        Criteria(),
        Criteria(template="welcome"),
        Criteria(status="queued"),
        Criteria(domain="example.com"),
        Criteria(address_prefix="ann"),
        Criteria(address_prefix="ann", template="welcome"),
        Criteria(since=stale - 60),
    ):
        page = log.search_page(criteria)
        assert (page.total, [d.message_id for d in page]) == (1, [new]), criteria
