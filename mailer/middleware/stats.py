"""One line in each worker's log every 30 s: what it sent and failed, and what is waiting.

Enough to see at a glance, in ``heroku logs --tail`` or any log drain, whether mail flows and
whether a queue is backing up, without opening the dashboard or scraping metrics.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from mailer import settings as mailer_settings
from mailer import stores
from mailer.message import sends_email
from mailer.stores import workers
from mailer.stores.queue_depths import QueueDepth, queue_depths

logger = logging.getLogger(__name__)


class StatsLine(Middleware):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent = self._failed = 0
        self._stop = threading.Event()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message[Any],
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        if sends_email(broker, message):
            with self._lock:
                if exception is None:
                    self._sent += 1
                else:
                    self._failed += 1

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        configured = mailer_settings.current()
        self._client = stores.redis_client(configured.redis_url)
        interval_s = configured.stats_interval_s
        threading.Thread(target=self._run, args=(interval_s,), daemon=True).start()
        self._registration(broker, workers.register)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        self._registration(broker, workers.unregister)

    def _registration(self, broker: dramatiq.Broker, change: Any) -> None:
        """Say this process is a worker (the dashboard lists it), or no longer one."""
        worker_id = getattr(broker, "broker_id", None)  # a Redis broker's; a stub has none
        if worker_id is None:
            return
        try:
            change(self._client, worker_id)
        except Exception as err:  # bookkeeping: the worker runs whether or not it is listed
            logger.warning("Could not update the worker registry: %s: %s", type(err).__name__, err)

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                logger.info(self.line(interval_s))
            except Exception as err:  # a stats line must never take the worker down
                logger.warning("Could not read queue stats: %s: %s", type(err).__name__, err)

    def line(self, interval_s: float) -> str:
        with self._lock:
            sent, failed, self._sent, self._failed = self._sent, self._failed, 0, 0
        depths = queue_depths(self._client)
        return f"Stats: sent {sent}, failed {failed} in the last {interval_s:g} s; " + _depths(
            depths
        )


def _depths(depths: list[QueueDepth]) -> str:
    per_queue = ", ".join(
        f"{d.queue_name.removeprefix('mailer_')} {d.ready}/{d.delayed}/{d.dead}" for d in depths
    )
    return f"queued/delayed/dead: {per_queue}"
