"""Loaded into a benchmark worker after ``mailer.actors``: an actor that notes when it starts.

``bench.idle_latency`` sends it to each priority queue in turn to split an email's latency in
two: the pickup (enqueue to a worker thread starting the message: the wake-up, the fetch and
the hand-over to a thread) and the send itself (rendering, MIME, SMTP). It pushes
``"<probe id> <time.time()>"`` on a Redis list the benchmark reads.
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq

PROBES_KEY = "bench:pickups"
ACTOR_NAME = "bench_pickup_probe"

broker: Any = dramatiq.get_broker()


@dramatiq.actor(actor_name=ACTOR_NAME, queue_name="mailer_critical", max_retries=0)
def pickup_probe(probe_id: str) -> None:
    started = time.time()
    broker.client.rpush(PROBES_KEY, f"{probe_id} {started:.6f}")
