"""A worker process's thread that writes the ``queued`` records of new emails as they arrive.

It blocks on the delivery log's unrecorded list (``mailer.stores.unrecorded``), so an idle
worker costs Redis one command a second for it. Once an email arrives it waits ``LINGER_S``
before writing: the worker's own threads are picking the email up at that moment, and a
record written a few milliseconds later is as good; under load the wait gathers a batch.
"""

from __future__ import annotations

import logging
import threading

import redis

from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.unrecorded import record_all, wait

logger = logging.getLogger(__name__)

#: How long a blocking wait on the list lasts; also how soon the thread sees a stop.
WAIT_S = 1.0
#: How long after an arrival the records are written.
LINGER_S = 0.02
#: How long the thread waits after Redis refused a write or a wait, before the next.
RETRY_S = 1.0


class UnrecordedRecorder:
    def __init__(self, log: DeliveryLog) -> None:
        self.log = log
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailer-records", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop once the current wait ends; what is still on the list stays for another."""
        self._stopping.set()

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                taken = wait(self.log.client, self.log.unrecorded_key, WAIT_S)
                if taken:
                    self._stopping.wait(LINGER_S)
                    record_all(self.log, taken)
                failing = False
            except redis.RedisError as err:  # the log must never break sending
                if not failing:  # once per outage: the worker's own lines say Redis is down
                    logger.warning(
                        "Could not write queued records: %s: %s", type(err).__name__, err
                    )
                failing = True
                self._stopping.wait(RETRY_S)
