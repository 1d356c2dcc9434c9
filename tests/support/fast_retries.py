"""Loaded into test worker processes after ``mailer.actors``: retries back off in milliseconds.

Only the timing changes; the retry count, what is retried and what is dead-lettered stay
exactly as declared.
"""

import dramatiq

for _actor in dramatiq.get_broker().actors.values():
    _actor.options["min_backoff"] = 50
    _actor.options["max_backoff"] = 400
