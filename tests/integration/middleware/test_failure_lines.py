"""A worker through many transient failures logs one line for each, and no traceback."""

from __future__ import annotations

import re

import pytest

from mailer import send_email, settings, stores
from mailer.stores.traffic import Traffic
from tests.support.smtp_server import SMTPSink
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

FAILURES = 50
EMAILS = 10  # five failures each, then delivered: welcome allows eight retries
LINE = re.compile(
    r"Failed welcome message (?P<id>[0-9a-f-]{36}), attempt (?P<n>\d+) of 9, "
    r"next try at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: smtp 451: 4\.3\.0 Try again later"
)


def test_fifty_transient_failures_are_fifty_lines_without_a_traceback(
    smtp_sink: SMTPSink, start_worker: object
) -> None:
    smtp_sink.script(["451 4.3.0 Try again later"] * FAILURES)
    worker = start_worker({**smtp_sink.env(), "MAILER_FROM": "shop@example.com"})  # type: ignore[operator]
    sent = [
        send_email("welcome", f"reader{i}@example.com", {"name": "Ann", "app_name": "Acme"})
        for i in range(EMAILS)
    ]
    smtp_sink.wait_for(EMAILS, timeout=60)
    log = worker.log()
    lines = list(LINE.finditer(log))
    assert len(lines) == FAILURES, log
    assert {m["id"] for m in lines} <= set(sent)
    assert len(re.findall(r"^.*Failed welcome message", log, re.M)) == FAILURES
    assert "Traceback" not in log and "unhandled exception" not in log
    assert "Retrying message" not in log  # the line above says when
    # The same writes counted them for the charts, in the worker's own round trips.
    log = stores.for_settings(settings.current()).delivery_log
    traffic = Traffic(log.client, prefix=log.prefix)
    assert wait_until(lambda: traffic.per_minute().totals()["sent"] == EMAILS)
    assert traffic.per_minute().totals()["failed"] == FAILURES
    assert traffic.per_hour(2).totals()["failed"] == FAILURES
