"""The dashboard's pages on the suite's Redis: what they show, that whatever came from outside
is shown as text, and what their buttons do to the queues."""

from __future__ import annotations

import html
import re
import time
from typing import Any

from mailer import stores
from mailer.actors import broker, emails
from mailer.settings import Settings
from mailer.stores.delivery_log import Attempt
from tests.support.dashboard_client import Client

HOSTILE = "<script>alert(1)</script>"
WELCOME = {"name": "Ann", "app_name": "Acme"}


def message(to: str = "ann@example.com", context: dict[str, Any] | None = None) -> Any:
    envelope = {"to": [to], "from_email": "shop@example.com"}
    return emails.welcome.actor.message(envelope, context or WELCOME)


def enqueued(settings: Settings, **options: Any) -> Any:
    sent = broker.enqueue(message(**options))
    stores.for_settings(settings).delivery_log.requeued(sent)
    return sent


def died(settings: Settings, sent: Any, error: str = "smtp 550: 5.1.1 Mailbox unavailable") -> None:
    """As a worker leaves an email that failed for good: moved from its queue into the queue's
    dead letters the way Dramatiq's nack files it, and logged dead with the provider's error."""
    member, queue = sent.options["redis_message_id"], f"{broker.namespace}:{sent.queue_name}"
    with broker.client.pipeline() as pipe:
        pipe.hdel(f"{queue}.msgs", member)
        pipe.lrem(queue, 1, member)
        pipe.hset(f"{queue}.XQ.msgs", member, sent.encode())
        pipe.zadd(f"{queue}.XQ", {member: time.time() * 1000})
        pipe.execute()
    attempt = Attempt(time.time(), "failed", "smtp", error=error)
    stores.for_settings(settings).delivery_log.settled(sent.message_id, "welcome", "dead", attempt)


def stored_where(client: Client, message_id: str) -> str | None:
    found = re.search(
        r'<strong id="where">([^<]+)</strong>', client.get(f"/deliveries/{message_id}").body
    )
    return found[1] if found else None


# --- overview ---------------------------------------------------------------------------


def test_overview_counts_the_last_day_per_type(
    client: Client, dashboard_settings: Settings
) -> None:
    log = stores.for_settings(dashboard_settings).delivery_log
    for status in ("sent", "sent", "dead", "suppressed"):
        log.settled(f"id-{time.time_ns()}", "welcome", status, Attempt(time.time(), status))
    page = client.get("/").body
    row = re.search(r'deliveries\?template=welcome">welcome</a></td>(.*?)</tr>', page, re.S)
    assert row is not None
    # sent, failed, dead, throttled, suppressed
    assert re.findall(r'<td class="n">(\d+)</td>', row[1]) == ["2", "0", "1", "0", "1"]


# --- search -----------------------------------------------------------------------------


def test_search_by_recipient_newest_first_with_links(
    client: Client, dashboard_settings: Settings
) -> None:
    first = enqueued(dashboard_settings, to="ann@example.com")
    enqueued(dashboard_settings, to="bob@example.com")
    time.sleep(0.002)
    second = enqueued(dashboard_settings, to="Ann <ANN@example.com>")
    page = client.get("/deliveries?to=ann%40example.com").body
    links = re.findall(r'href="/deliveries/([^"]+)"', page)
    assert links == [second.message_id, first.message_id]


def test_search_shows_hostile_recipients_and_errors_as_text(
    client: Client, dashboard_settings: Settings
) -> None:
    sent = enqueued(dashboard_settings, to=f'"{HOSTILE}" <ann@example.com>')
    died(dashboard_settings, sent, error=f"smtp 550: {HOSTILE}")
    for path in ("/deliveries?status=dead", f"/deliveries/{sent.message_id}", "/dead-letters"):
        page = client.get(path).body
        assert "<script" not in page, path
        assert html.escape(HOSTILE, quote=False) in page, path


def test_search_refuses_what_it_cannot_search(client: Client) -> None:
    assert client.get("/deliveries?status=lost").status == 400
    answer = client.get("/deliveries?hours=-3")
    assert answer.status == 400
    assert "Hours must be a whole number from 1 to 720." in answer.body


# --- one message ------------------------------------------------------------------------


def test_the_email_is_shown_only_inside_a_sandboxed_frame(
    client: Client, dashboard_settings: Settings
) -> None:
    sent = enqueued(dashboard_settings, context={"name": HOSTILE, "app_name": "<b>Acme</b>"})
    answer = client.get(f"/deliveries/{sent.message_id}")
    assert answer.status == 200
    frames = re.findall(r"<iframe[^>]*>", answer.body)
    assert len(frames) == 1
    assert ' sandbox srcdoc="' in frames[0]  # no allow-* token: no script, no same origin
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frames[0])[1])  # type: ignore[index]
    assert "<h1" in srcdoc and "&lt;script&gt;" in srcdoc  # the email's HTML, escaped once more
    assert "<script" not in answer.body and "<b>Acme" not in answer.body
    assert "Welcome to &lt;b&gt;Acme&lt;/b&gt;" in answer.body  # the subject, as text
    assert re.search(r'<pre id="held-text">.*Welcome', answer.body, re.S)
    assert stored_where(client, sent.message_id) == "queue"


def test_record_and_attempts(client: Client, dashboard_settings: Settings) -> None:
    sent = enqueued(dashboard_settings)
    died(dashboard_settings, sent)
    page = client.get(f"/deliveries/{sent.message_id}").body
    assert re.search(r"<dt>Status</dt><dd><span class=\"status status-dead\">dead", page)
    attempts = page.split('id="attempts"')[1].split("</table>")[0]
    assert "smtp 550: 5.1.1 Mailbox unavailable" in attempts
    assert stored_where(client, sent.message_id) == "dead letters"


def test_a_message_no_longer_stored_says_so(client: Client, dashboard_settings: Settings) -> None:
    stores.for_settings(dashboard_settings).delivery_log.requeued(
        message()
    )  # logged, never enqueued
    [delivery] = stores.for_settings(dashboard_settings).delivery_log.search(limit=1)
    page = client.get(f"/deliveries/{delivery.message_id}").body
    assert 'id="not-stored"' in page and "no longer stored" in page


def test_an_unknown_message_is_a_404(client: Client) -> None:
    assert client.get("/deliveries/00000000-0000-0000-0000-000000000000").status == 404


# --- dead letters -----------------------------------------------------------------------


def test_requeue_one_dead_letter_from_its_page(
    client: Client, dashboard_settings: Settings
) -> None:
    sent = enqueued(dashboard_settings)
    died(dashboard_settings, sent)
    page = client.get(f"/deliveries/{sent.message_id}").body
    assert f'name="csrf_token" value="{client.csrf_token}"' in page
    answer = client.post(
        f"/dead-letters/{sent.message_id}/requeue", {"csrf_token": client.csrf_token}
    )
    assert answer.status == 303
    assert answer.header("Location") == f"/deliveries/{sent.message_id}?done=requeued"
    assert stored_where(client, sent.message_id) == "queue"
    again = client.post(
        f"/dead-letters/{sent.message_id}/requeue", {"csrf_token": client.csrf_token}
    )
    assert again.header("Location") == f"/deliveries/{sent.message_id}?done=gone"


def test_delete_one_dead_letter(client: Client, dashboard_settings: Settings) -> None:
    sent = enqueued(dashboard_settings)
    died(dashboard_settings, sent)
    client.get("/dead-letters")
    client.post(f"/dead-letters/{sent.message_id}/delete", {"csrf_token": client.csrf_token})
    assert stored_where(client, sent.message_id) is None
    assert (
        stores.for_settings(dashboard_settings).delivery_log.get(sent.message_id).status == "failed"
    )  # type: ignore[union-attr]


def test_bulk_requeue_acts_on_every_match_and_only_on_matches(
    client: Client, dashboard_settings: Settings
) -> None:
    ann = [enqueued(dashboard_settings, to="ann@example.com") for _ in range(3)]
    bob = enqueued(dashboard_settings, to="bob@example.com")
    for sent in [*ann, bob]:
        died(dashboard_settings, sent)
    client.get("/dead-letters")
    form = {"csrf_token": client.csrf_token, "to": "ann@example.com", "template": "welcome"}
    answer = client.post("/dead-letters/requeue", form)
    assert answer.header("Location") == (
        "/dead-letters?template=welcome&to=ann%40example.com&done=requeued&count=3"
    )
    assert "3 requeued." in client.get(answer.header("Location") or "").body
    assert [stored_where(client, s.message_id) for s in ann] == ["queue"] * 3
    assert stored_where(client, bob.message_id) == "dead letters"


def test_bulk_delete_by_part_of_the_error_in_any_case(
    client: Client, dashboard_settings: Settings
) -> None:
    over_quota, unknown = enqueued(dashboard_settings), enqueued(dashboard_settings)
    died(dashboard_settings, over_quota, error="sendgrid 403: Sender over quota")
    died(dashboard_settings, unknown, error="smtp 550: 5.1.1 Unknown user")
    listing = client.get("/dead-letters?error=OVER+QUOTA").body
    assert over_quota.message_id in listing and unknown.message_id not in listing
    form = {"csrf_token": client.csrf_token, "error": "OVER QUOTA"}
    assert client.post("/dead-letters/delete", form).status == 303
    assert stored_where(client, over_quota.message_id) is None
    assert stored_where(client, unknown.message_id) == "dead letters"


def test_bulk_delete_of_a_queue(client: Client, dashboard_settings: Settings) -> None:
    sent = [enqueued(dashboard_settings) for _ in range(2)]
    for each in sent:
        died(dashboard_settings, each)
    listing = client.get(f"/dead-letters?queue={sent[0].queue_name}").body
    assert listing.count("/requeue") == 3  # one per letter, and one for all
    form = {"csrf_token": client.csrf_token, "queue": sent[0].queue_name}
    assert client.post("/dead-letters/delete", form).status == 303
    assert "No dead letter matches." in client.get("/dead-letters").body


def test_the_queues_pages_of_dramatiq_dashboard_are_mounted(
    client: Client, dashboard_settings: Settings
) -> None:
    sent = enqueued(dashboard_settings)
    page = client.get("/queues").body
    assert f"/queues/queues/{sent.queue_name}" in page
    assert client.get(f"/queues/queues/{sent.queue_name}/standard").status == 200
