"""``mailer dev`` does the scheduler's job: each minute it sends the periodic actors' ticks."""

from __future__ import annotations

import threading
import time

from mailer.cli import dev


def test_dev_sends_each_matching_periodic_actor_at_the_top_of_the_minute(stub_broker, monkeypatch):
    just_before_a_minute = (time.time() // 60 + 1) * 60 - 0.05
    monkeypatch.setattr(dev.time, "time", lambda: just_before_a_minute)
    stop = threading.Event()
    ticker = threading.Thread(target=dev._tick_every_minute, args=(stub_broker, stop))
    ticker.start()
    queue = stub_broker.queues["mailer_critical"]
    deadline = time.monotonic() + 5
    while queue.qsize() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    ticker.join(timeout=5)
    ticks = [message for message in stub_broker.queues["mailer_critical"].queue]
    assert ticks, "no tick was sent"
    assert all(b"fire_due_schedules" in tick and b"scheduled_at" in tick for tick in ticks)
