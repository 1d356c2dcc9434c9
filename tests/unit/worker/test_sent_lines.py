"""A sent email writes no log line unless the worker is verbose: the delivery log has it."""

from __future__ import annotations

import logging

from mailer import send_email
from tests.support.brokers import drain

WELCOME = {"name": "Ann"}


def test_a_sent_email_logs_its_line_at_debug_only(stub_broker, stub_worker, caplog):
    caplog.set_level(logging.INFO, logger="mailer")
    quiet = send_email("welcome", "ann@example.com", WELCOME)
    drain(stub_broker, stub_worker)
    assert quiet not in caplog.text

    caplog.set_level(logging.DEBUG, logger="mailer")  # what ``dramatiq --verbose`` sets
    verbose = send_email("welcome", "ann@example.com", WELCOME)
    drain(stub_broker, stub_worker)
    [line] = [r.getMessage() for r in caplog.records if verbose in r.getMessage()]
    assert line.startswith(f"Sent welcome message {verbose} to 1 recipient(s) via memory")
