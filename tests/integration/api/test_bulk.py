"""``send_bulk`` and ``mailer bulk`` on the suite's Redis: queued as the Redis broker queues,
logged as queued, and delivered by a stock worker, minus the suppressed addresses."""

from __future__ import annotations

import csv
import json
from email import message_from_bytes, policy
from pathlib import Path

import dramatiq
import pytest
import redis

from mailer import search_deliveries, send_email, settings, stores
from mailer.api.bulk import BATCH_SIZE, send_bulk
from mailer.api.suppression import suppress
from mailer.embedded_redis import free_port
from mailer.settings import current
from mailer.stores import keys as store
from mailer.stores import redis_client
from mailer.templates import BUNDLED_DIR
from tests.support.commands import assert_refused, mailer
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

POST = json.loads((BUNDLED_DIR / "new_post" / "sample.json").read_text())
LOW = "dramatiq:mailer_low"


def status_count(status: str) -> int:
    return int(
        redis_client(settings.current().redis_url).zcard(
            store.key("log", "index", "status", status)
        )
    )


def stored(redis_url: str) -> tuple[list[bytes], dict[bytes, bytes]]:
    """The low queue's list of Redis ids and its hash of messages by Redis id."""
    client = redis.Redis.from_url(redis_url)
    try:
        return client.lrange(LOW, 0, -1), client.hgetall(f"{LOW}.msgs")
    finally:
        client.close()


def test_ten_thousand_recipients_less_the_suppressed(start_worker, tmp_path):
    addresses = [f"reader{i}@example.com" for i in range(10_000)]
    gone = addresses[::100]
    suppress(gone, reason="unsubscribed")
    outbox = tmp_path / "outbox"
    worker = start_worker(
        {
            "MAILER_BACKEND": "file",
            "MAILER_OUTBOX_DIR": str(outbox),
            "MAILER_SECRET_KEY": "k" * 40,
            "MAILER_PUBLIC_URL": "https://news.example.com",
        },
        processes=2,
        threads=8,
    )
    result = send_bulk("new_post", iter(addresses), POST, key="post-better-mornings")
    assert (result.queued, result.rejected) == (10_000, 0)

    def done() -> bool:
        return status_count("sent") + status_count("suppressed") == 10_000

    assert wait_until(done, timeout_s=150, interval_s=0.5), worker.log()[-3000:]
    assert (status_count("sent"), status_count("suppressed")) == (9_900, 100)
    files = list(outbox.glob("*.eml"))
    assert len(files) == 9_900
    sample = [message_from_bytes(path.read_bytes(), policy=policy.default) for path in files[:500]]
    assert {email["To"] for email in sample}.isdisjoint(gone)
    for email in sample:  # news: every one carries its recipient's one-click unsubscribe link
        assert email["List-Unsubscribe"].startswith("<https://news.example.com/unsubscribe/")
        assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    suppressed = search_deliveries(status="suppressed", template="new_post", limit=200)
    assert sorted(d.to[0] for d in suppressed) == sorted(gone)


def test_queued_as_the_redis_broker_queues_them(redis_url):
    count = BATCH_SIZE * 2 + 5
    single = send_email("new_post", "solo@example.com", POST, priority="low")
    result = send_bulk("new_post", (f"r{i}@example.com" for i in range(count)), POST)
    assert result.queued == count

    ids, messages = stored(redis_url)
    assert len(ids) == len(set(ids)) == len(messages) == count + 1
    decoded = [dramatiq.Message.decode(messages[redis_id]) for redis_id in ids]
    assert all(
        m.options["redis_message_id"] == i.decode() for m, i in zip(decoded, ids, strict=True)
    )
    first, bulked = decoded[0], decoded[1:]
    assert first.message_id == single
    assert [m.args[0]["to"] for m in bulked] == [[f"r{i}@example.com"] for i in range(count)]
    assert {m.actor_name for m in decoded} == {"send_new_post"}
    assert {m.queue_name for m in decoded} == {"mailer_low"}
    assert json.loads(messages[ids[0]]).keys() == json.loads(messages[ids[-1]]).keys()
    assert bulked[0].args[1] == first.args[1]

    # The log learns of a bulk message when a worker takes it; send_email's is logged queued.
    log = stores.for_settings(current()).delivery_log
    assert wait_until(lambda: log.get(single) is not None)
    assert log.get(bulked[-1].message_id) is None
    assert status_count("queued") == 1


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_the_command_queues_every_row_of_a_csv_file(tmp_path, redis_url):
    recipients = write_csv(
        tmp_path / "readers.csv",
        [
            ["Name", "EMAIL", "title"],
            ["Ann", "ann@example.com", "For Ann"],
            ["Bob", "not-an-address", ""],
            ["Cy", "Cy <cy@example.com>", ""],
            ["Ann again", "ANN@example.com", ""],
        ],
    )
    context = json.dumps(POST)
    result = mailer(
        "bulk", "new_post", "--recipients", str(recipients), "--context", context, "--key", "k1"
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(maxsplit=1) for line in result.stdout.splitlines()[1:])
    assert lines == {"queued": "2", "duplicates": "1 skipped", "rejected": "1"}
    assert result.stdout.startswith("bulk id ")
    assert "skipped row 2: to: 'not-an-address' is not a valid address" in result.stderr

    ids, messages = stored(redis_url)
    decoded = [dramatiq.Message.decode(messages[redis_id]) for redis_id in ids]
    assert [m.args[0]["to"] for m in decoded] == [["ann@example.com"], ["Cy <cy@example.com>"]]
    assert [m.args[1]["title"] for m in decoded] == ["For Ann", POST["title"]]
    assert decoded[0].args[1]["Name"] == "Ann"


def test_the_command_refuses_bad_input_in_one_line(tmp_path):
    no_column = write_csv(tmp_path / "no-email.csv", [["address"], ["ann@example.com"]])
    context = json.dumps(POST)
    assert_refused(
        mailer("bulk", "new_post", "--recipients", str(no_column), "--context", context),
        2,
        "no 'email' column",
    )
    assert_refused(
        mailer("bulk", "new_post", "--recipients", str(tmp_path / "missing.csv")),
        2,
        "cannot read",
    )
    readers = write_csv(tmp_path / "readers.csv", [["email"], ["ann@example.com"]])
    assert_refused(
        mailer("bulk", "new_post", "--recipients", str(readers), "--context", "[1]"),
        2,
        "--context: must be a JSON object",
    )
    assert_refused(mailer("bulk", "nope", "--recipients", str(readers)), 2, "template")
    unreachable = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    assert_refused(
        mailer(
            "bulk", "new_post", "--recipients", str(readers), "--context", context, env=unreachable
        ),
        1,
        "could not queue the bulk send",
    )
