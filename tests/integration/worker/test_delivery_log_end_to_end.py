"""The delivery log as a real ``dramatiq mailer.actors`` process writes it, read back through
every kind of search: the ``queued`` records its thread writes in batches, the ``sending``
write that keeps out of the facets' status twins, and the ``sent`` one."""

from __future__ import annotations

import pytest
import redis

from mailer import send_email
from mailer.stores import redis_client
from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.delivery_search import Criteria
from tests.support.smtp_server import SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

#: Index writes per email over its three records: ten for the new record (its three facets,
#: their `queued` twins, `all`, `status:queued`, two address sets), one for `sending` (its
#: status index alone: in the facets' twins too it would be four), four for `sent`; and a
#: share of the workers' own bookkeeping (heartbeats, wake-ups) while they run.
MAX_INDEX_ADDS_PER_EMAIL = 16.5
#: Trims: one write in eight trims what it touches (16 per email if every write did).
MAX_TRIMS_PER_EMAIL = 8
WRITES = ("zadd", "zremrangebyscore")
CONTEXT = {"name": "Ann", "login_url": "https://app.example.com/login"}


def test_a_worker_s_emails_are_found_by_every_facet_once_sent(
    smtp_sink: SMTPSink, start_worker, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    log = DeliveryLog(redis_client(redis_url))
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": "Shop <shop@example.com>"})
    client.config_resetstat()
    ids = [send_email("welcome", to=f"e2e{i}@log.example", context=CONTEXT) for i in range(40)]
    assert len(smtp_sink.wait_for(len(ids), timeout=60)) == len(ids), worker.log()
    sent = Criteria(status="sent", domain="log.example")  # the settle lands after the SMTP reply
    assert wait_until(lambda: log.search_page(sent).total == len(ids)), worker.log()

    for criteria in (
        Criteria(template="welcome", domain="log.example", status="sent"),
        Criteria(domain="log.example", status="sent"),
        Criteria(address_prefix="e2e", status="sent"),
        Criteria(address_prefix="e2e", template="welcome", status="sent"),
    ):
        page = log.search_page(criteria, limit=100)
        assert page.total == len(ids) and {d.message_id for d in page} == set(ids), criteria
    for criteria in (
        Criteria(domain="log.example", status="sending"),
        Criteria(address_prefix="e2e", status="sending"),
        Criteria(domain="log.example", status="queued"),
    ):
        assert log.search_page(criteria).total == 0, criteria
    stats = client.info("commandstats")
    per_email = {c: stats.get(f"cmdstat_{c}", {}).get("calls", 0) / len(ids) for c in WRITES}
    assert per_email["zadd"] <= MAX_INDEX_ADDS_PER_EMAIL, per_email
    assert per_email["zremrangebyscore"] <= MAX_TRIMS_PER_EMAIL, per_email
    delivery = log.get(ids[0])
    assert delivery is not None and delivery.status == "sent"
    assert [a.outcome for a in delivery.attempts] == ["sent"]
    assert list(client.scan_iter(log.index_key("*", "status", "sending"))) == []
    client.close()
