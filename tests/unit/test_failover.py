"""The failover circuit against the suite's Redis; two ``Failover`` objects are two workers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from mailer import stores
from mailer.settings import Settings
from mailer.stores.failover import Failover

COOLDOWN_S = 0.3
# Redis and this process read the same clock, so a little slack covers the round trips.
PAST_COOLDOWN_S = COOLDOWN_S + 0.1


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter("mailer:failover:*"):
        client.delete(key)
    client.close()


def workers(client: redis.Redis, count: int = 2, **options: float) -> list[Failover]:
    options = {"after": 3, "cooldown_s": COOLDOWN_S, **options}
    return [Failover(client, "smtp", "ses", **options) for _ in range(count)]  # type: ignore[arg-type]


def open_circuit(worker: Failover) -> None:
    for _ in range(worker.after):
        worker.failed("smtp", "smtp 451: try again later")


def test_without_a_fallback_nothing_touches_redis():
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1)
    circuit = Failover(unreachable, "smtp", None, after=1, cooldown_s=COOLDOWN_S)
    for _ in range(5):
        circuit.failed("smtp", "smtp 451: try again later")
    circuit.succeeded("smtp")
    assert circuit.choose() == "smtp"
    assert circuit.status().state == "closed"


def test_opens_after_the_set_number_of_consecutive_failures(client, caplog):
    [worker] = workers(client, count=1)
    worker.failed("smtp", "smtp 451: try again later")
    worker.failed("smtp", "smtp 451: try again later")
    assert worker.choose() == "smtp"
    with caplog.at_level(logging.WARNING, logger="mailer.stores.failover"):
        worker.failed("smtp", "smtp 421: service not available")
    assert worker.choose() == "ses"
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "Sending through ses for 0.3 s after 3 consecutive transient failures of smtp: "
        "smtp 421: service not available"
    )


def test_failures_are_counted_across_workers(client):
    first, second = workers(client)
    first.failed("smtp")
    second.failed("smtp")
    assert first.choose() == second.choose() == "smtp"
    first.failed("smtp")
    assert first.choose() == second.choose() == "ses"


def test_a_success_of_the_primary_resets_the_count(client):
    first, second = workers(client)
    first.failed("smtp")
    first.failed("smtp")
    second.succeeded("smtp")
    first.failed("smtp")
    first.failed("smtp")
    assert first.choose() == "smtp"
    assert first.status().consecutive_failures == 2


def test_only_the_primarys_failures_count(client):
    first, second = workers(client)
    for _ in range(10):
        first.failed("ses", "ses 503: unavailable")
    first.succeeded("ses")
    assert second.choose() == "smtp"
    assert second.status().consecutive_failures == 0


def test_every_worker_uses_the_fallback_during_the_cooldown(client):
    first, second = workers(client)
    open_circuit(first)
    assert [worker.choose() for worker in (first, second) for _ in range(3)] == ["ses"] * 6
    status = second.status()
    assert (status.state, status.using, status.consecutive_failures) == ("open", "ses", 3)
    assert status.last_error == "smtp 451: try again later"
    assert status.open_until is not None
    assert time.time() < status.open_until <= time.time() + COOLDOWN_S + 0.05


def test_failures_while_open_do_not_extend_the_cooldown(client):
    first, second = workers(client)
    open_circuit(first)
    open_until = first.status().open_until
    second.failed("smtp", "a send begun before the circuit opened")
    assert first.status().open_until == open_until
    time.sleep(PAST_COOLDOWN_S)
    assert second.choose() == "smtp"


def test_after_the_cooldown_one_worker_at_a_time_probes_the_primary(client):
    first, second = workers(client)
    open_circuit(first)
    time.sleep(PAST_COOLDOWN_S)
    assert first.status().state == "half-open"
    assert first.choose() == "smtp"
    assert second.choose() == "ses"
    assert first.choose() == "ses"  # another thread of the probing worker waits too


def test_of_many_workers_asking_at_once_exactly_one_probes(client):
    many = workers(client, count=16)
    open_circuit(many[0])
    time.sleep(PAST_COOLDOWN_S)
    with ThreadPoolExecutor(max_workers=16) as pool:
        chosen = list(pool.map(lambda worker: worker.choose(), many))
    assert sorted(chosen) == ["ses"] * 15 + ["smtp"]


def test_of_many_failures_at_once_one_opens_the_circuit(client, caplog):
    many = workers(client, count=16)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda worker: worker.failed("smtp", "smtp 451: busy"), many))
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert many[0].status().consecutive_failures == many[0].after


def test_a_successful_probe_closes_the_circuit(client, caplog):
    first, second = workers(client)
    open_circuit(first)
    time.sleep(PAST_COOLDOWN_S)
    assert second.choose() == "smtp"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mailer.stores.failover"):
        second.succeeded("smtp")
    assert first.choose() == second.choose() == "smtp"
    status = first.status()
    assert (status.state, status.consecutive_failures, status.open_until) == ("closed", 0, None)
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert "Sending through smtp again" in record.getMessage()


def test_a_failed_probe_opens_the_circuit_for_another_cooldown(client, caplog):
    first, second = workers(client)
    open_circuit(first)
    time.sleep(PAST_COOLDOWN_S)
    assert first.choose() == "smtp"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mailer.stores.failover"):
        first.failed("smtp", "smtp 451: still down")
    assert first.choose() == second.choose() == "ses"
    assert first.status().state == "open"
    assert [record.levelno for record in caplog.records] == [logging.INFO]
    time.sleep(PAST_COOLDOWN_S)
    assert second.choose() == "smtp"  # the next probe, by whichever worker asks first
    assert first.choose() == "ses"


def test_a_probe_that_never_reports_back_frees_its_lease(client):
    first, second = workers(client, probe_lease_s=0.2)
    open_circuit(first)
    time.sleep(PAST_COOLDOWN_S)
    assert first.choose() == "smtp"  # and then its worker dies
    assert second.choose() == "ses"
    time.sleep(0.25)
    assert second.choose() == "smtp"


def test_one_failover_per_settings_and_process(redis_url):
    settings = Settings(redis_url=redis_url, backend="smtp", fallback_backend="ses")
    same = Settings(redis_url=redis_url, backend="smtp", fallback_backend="ses")
    circuit = stores.for_settings(settings).failover
    assert stores.for_settings(same).failover is circuit
    assert (circuit.primary, circuit.fallback, circuit.after, circuit.cooldown_s) == (
        "smtp",
        "ses",
        5,
        60.0,
    )
    assert stores.for_settings(Settings(redis_url=redis_url)).failover is not circuit
