"""Testing an app that sends mail with mailer: nothing to run, nothing to mock.

With pytest, ask for the ``outbox`` fixture (installed with mailer, see
``mailer.testing.pytest_plugin``); elsewhere, ``with record() as outbox:``. Inside, the app's
``send_email``, ``send_bulk``, ``schedule_email``, ``publish`` and ``notify`` go through
mailer's real actors, templates and middleware, synchronously, in the test's process::

    def test_signup_sends_a_welcome(outbox):
        signup("ann@example.com")
        assert outbox[0].subject == "Welcome, Ann"

The page ``docs/testing.md`` shows the rest: the clock, notifications, failures.
"""

from __future__ import annotations

from mailer.testing.outbox import Outbox, SentEmail
from mailer.testing.recording import record, recording

__all__ = ["Outbox", "SentEmail", "record", "recording"]
