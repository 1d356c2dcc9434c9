"""Loaded into a benchmark worker after ``mailer.actors``: the same worker, without the
delivery log (and so without the metrics it feeds). The baseline of ``bench.delivery_log``::

    dramatiq mailer.actors bench.without_delivery_log --processes 1 --threads 8
"""

from __future__ import annotations

import dramatiq

from mailer.middleware.log_deliveries import LogDeliveries

broker = dramatiq.get_broker()
broker.middleware[:] = [m for m in broker.middleware if not isinstance(m, LogDeliveries)]
