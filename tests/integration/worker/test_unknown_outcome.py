"""Sends whose outcome is unknown, through real worker processes and a real SMTP server.

The server keeps each message and answers only after the send's deadline, as a server that
queued it and then stalled does: the answer is lost after the handover. With failover to the
file backend after a single failure, each such email must still go out through SMTP only
(once more, the one duplicate SMTP cannot rule out), never through the fallback, and the
delivery log must say ``unknown`` then ``sent``.
"""

from __future__ import annotations

import collections
import itertools
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from mailer import send_email
from mailer.stores.delivery_log import DeliveryLog
from mailer.stores.failover import Failover
from tests.support.queues import dead_letters
from tests.support.smtp_server import SMTPSink
from tests.support.worker import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"
WELCOME = {"name": "Ann", "app_name": "Acme"}
EMAILS = 3
DEADLINE_S = "1"


def message_ids_received(sink: SMTPSink) -> collections.Counter[str]:
    return collections.Counter(
        r.message["Message-ID"].strip("<>").split("@")[0] for r in sink.messages
    )


def outcomes(log: DeliveryLog, message_id: str) -> list[str]:
    delivery = log.get(message_id)
    return [] if delivery is None else [attempt.outcome for attempt in delivery.attempts]


def test_a_lost_answer_is_retried_through_the_same_backend_never_the_fallback(
    smtp_sink, start_worker, redis_url, tmp_path: Path
):
    smtp_sink.script(["late"] * EMAILS)  # each kept at once, answered 30 s later
    env = {
        **smtp_sink.env(),
        "MAILER_FROM": SENDER,
        "MAILER_FALLBACK_BACKEND": "file",
        "MAILER_OUTBOX_DIR": str(tmp_path),
        "MAILER_FAILOVER_AFTER": "1",  # one counted failure would open the circuit
        "MAILER_SEND_DEADLINE": DEADLINE_S,
    }
    client = redis.Redis.from_url(redis_url)
    log = DeliveryLog(client)
    worker = start_worker(env, threads=EMAILS)
    message_ids = [send_email("welcome", f"user{n}@example.com", WELCOME) for n in range(EMAILS)]

    def all_sent() -> bool:
        return all(outcomes(log, m)[-1:] == ["sent"] for m in message_ids)

    assert wait_until(all_sent, 20), worker.log()
    for message_id in message_ids:
        assert outcomes(log, message_id) == ["unknown", "sent"], worker.log()
        delivery = log.get(message_id)
        assert delivery is not None and delivery.backend == "smtp"
        unknown = delivery.attempts[0]
        assert unknown.backend == "smtp"
        assert "no answer to the end of DATA" in (unknown.error or "")
        assert "Its last words: 354" in (unknown.error or "")
    assert message_ids_received(smtp_sink) == {m: 2 for m in message_ids}
    assert list(tmp_path.iterdir()) == []  # the fallback never saw one
    circuit = Failover(client, "smtp", "file", after=1, cooldown_s=60).status()
    assert (circuit.state, circuit.consecutive_failures) == ("closed", 0)
    assert "Sending through file" not in worker.log()
    client.close()


def test_sigterm_to_a_worker_whose_sends_all_hang_exits_in_time_and_loses_nothing(
    smtp_sink, start_worker, redis_url
):
    """The Procfile's worker, its processes, threads and shutdown timeout, with the default
    send deadline; every send hangs after the handover until that deadline. The exit must
    come well before the platform's SIGKILL at 30 s, and every email must still go out."""
    options = procfile_worker_options()
    smtp_sink.script(["late"] * 1000)
    env = {**smtp_sink.env(), "MAILER_FROM": SENDER}
    in_flight = int(options["--processes"]) * int(options["--threads"])
    message_ids = [
        send_email("welcome", f"user{n}@example.com", WELCOME) for n in range(in_flight + 10)
    ]
    stopping = start_worker(
        env,
        processes=int(options["--processes"]),
        threads=int(options["--threads"]),
        extra_args=("--worker-shutdown-timeout", options["--worker-shutdown-timeout"]),
    )
    assert wait_until(lambda: smtp_sink.attempts >= in_flight, 15), stopping.log()

    stopped_at = time.monotonic()
    for pid in [*_children(stopping.process.pid), stopping.process.pid]:
        os.kill(pid, signal.SIGTERM)  # every process of the dyno, as the platform does
    try:
        stopping.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker was still running when the platform would have killed it")
    took_s = time.monotonic() - stopped_at
    assert took_s <= 25, (took_s, stopping.log())  # 5 s before the platform's SIGKILL
    assert "still running at the shutdown deadline" not in stopping.log()

    smtp_sink.unscript()  # the server answers at once from now on
    start_worker(env, threads=8)
    log = DeliveryLog(redis.Redis.from_url(redis_url))

    def all_sent() -> bool:
        return all(outcomes(log, m)[-1:] == ["sent"] for m in message_ids)

    assert wait_until(all_sent, 30)
    assert set(message_ids_received(smtp_sink)) == set(message_ids)  # nothing lost
    assert dead_letters(redis_url) == []


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def procfile_worker_options() -> dict[str, str]:
    """The Procfile worker's options, each ``${VAR:-default}`` at its default."""
    line = next(
        line
        for line in (REPO_ROOT / "Procfile").read_text().splitlines()
        if line.startswith("worker:")
    )
    words = shlex.split(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", line.split(":", 1)[1]))
    return {word: value for word, value in itertools.pairwise(words) if word.startswith("--")}
