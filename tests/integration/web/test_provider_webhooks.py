"""Provider events end to end: a real worker sends through the SES (moto) or SendGrid stand-in,
then signed events posted to ``mailer dashboard`` (the web process as deployed) change the
delivery log, ``mailer log``, the message page, the metrics and the suppression list; forged
and replayed ones change nothing; a concurrent burst of a thousand is applied exactly once."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mailer import delivery_status, send_email, stores
from mailer.embedded_redis import free_port
from mailer.settings import Settings
from tests.support.ports import wait_for_port
from tests.support.provider_signing import (
    SendGridSigner,
    sendgrid_event,
    sent_record,
    ses_event,
)
from tests.support.worker import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration

SENDER = "Shop <shop@example.com>"
AUTH = ("ops", "a long passphrase")
SIGNER = SendGridSigner()
MAILER = str(Path(sys.executable).with_name("mailer"))


@pytest.fixture
def web(certificate_server) -> Iterator[str]:
    """``mailer dashboard`` on a free port, trusting the test's SNS certificate server."""
    port = free_port()
    env = {
        **os.environ,
        "MAILER_DASHBOARD_USER": AUTH[0],
        "MAILER_DASHBOARD_PASSWORD": AUTH[1],
        "MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY": SIGNER.public_key,
        "MAILER_SNS_TRUSTED_URL": certificate_server.url,
    }
    process = subprocess.Popen(
        [MAILER, "dashboard", "--host", "127.0.0.1", f"--port={port}", "--threads=8"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(process, port, "mailer dashboard")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


def request(url: str, body: bytes | None = None, headers=None, auth=None) -> tuple[int, str]:
    call = urllib.request.Request(url, data=body, headers=headers or {})
    if auth:
        token = base64.b64encode(":".join(auth).encode()).decode()
        call.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(call, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def sent_by_worker(count: int) -> list[str]:
    ids = [
        send_email("welcome", f"user{n}@example.com", {"name": "A"}, from_email=SENDER)
        for n in range(count)
    ]
    assert wait_until(lambda: all(getattr(delivery_status(i), "status", "") == "sent" for i in ids))
    return ids


def the_record_is_visible_everywhere(web: str, message_id: str, status: str) -> None:
    shown = subprocess.run([MAILER, "log", message_id], capture_output=True, text=True, check=True)
    assert f"status    {status}" in shown.stdout
    code, page = request(f"{web}/deliveries/{message_id}", auth=AUTH)
    assert code == 200 and status in page
    code, exposition = request(f"{web}/metrics", auth=AUTH)
    assert code == 200 and f'event="{status}"' in exposition


def test_signed_sendgrid_events_change_the_log_and_the_list_and_forged_ones_do_not(
    web, sendgrid_api, start_worker
):
    start_worker(
        {
            "MAILER_BACKEND": "sendgrid",
            "MAILER_SENDGRID_HOST": sendgrid_api.host,
            "SENDGRID_API_KEY": "SG.test",
            "MAILER_FROM": SENDER,
        }
    )
    opened, bounced = sent_by_worker(2)
    custom_args = [r.body["custom_args"]["mailer_message_id"] for r in sendgrid_api.requests]
    assert sorted(custom_args) == sorted([opened, bounced])
    x_message_id = delivery_status(bounced).provider_id
    batch = [
        sendgrid_event("delivered", "user0@example.com", mailer_message_id=opened),
        sendgrid_event("open", "user0@example.com", mailer_message_id=opened),
        # No custom argument: found by the id SendGrid answered the send with.
        sendgrid_event(
            "bounce",
            "user1@example.com",
            sg_message_id=f"{x_message_id}.filter-1.0",
            reason="550 no such user",
        ),
    ]
    body = json.dumps(batch).encode()
    url = f"{web}/webhooks/sendgrid"
    forged = body.replace(b"550 no such user", b"550 forged")
    assert request(url, forged, SIGNER.headers(body))[0] == 401
    assert request(url, body, {"Content-Type": "application/json"})[0] == 401
    assert request(url, body, SendGridSigner().headers(body))[0] == 401
    assert {delivery_status(i).status for i in (opened, bounced)} == {"sent"}
    assert not stores.for_settings(Settings.from_env()).suppression.get("user1@example.com")

    headers = SIGNER.headers(body)
    assert request(url, body, headers)[0] == 200
    assert request(url, body, headers)[0] == 409  # replayed
    assert delivery_status(opened).status == "opened"
    assert [a.outcome for a in delivery_status(opened).attempts] == ["sent", "delivered", "opened"]
    assert delivery_status(bounced).error == "550 no such user"
    entry = stores.for_settings(Settings.from_env()).suppression.get("user1@example.com")
    assert entry is not None and entry.reason == "bounced"
    the_record_is_visible_everywhere(web, bounced, "bounced")


def test_sns_confirms_then_signed_ses_events_apply_and_forged_ones_do_not(
    web, moto_ses, start_worker, sns_signer, certificate_server
):
    moto_ses.verify("shop@example.com")
    start_worker({**moto_ses.env(), "MAILER_FROM": SENDER})
    delivered, complained = sent_by_worker(2)
    url = f"{web}/webhooks/ses"
    confirmation = sns_signer.sign(sns_signer.confirmation(f"{certificate_server.url}/confirm?t=1"))
    assert request(url, json.dumps(confirmation).encode())[0] == 200
    assert certificate_server.confirmations == ["/confirm?t=1"]

    def notification(message_id: str, kind: str, version: str = "2", **part) -> dict[str, str]:
        ses_id = delivery_status(message_id).provider_id
        event = ses_event(kind, ses_id, "user@example.com", message_id=message_id, **part)
        return sns_signer.sign(sns_signer.notification(event), version)

    complaint = notification(
        complained, "Complaint", "1", complainedRecipients=[{"emailAddress": "user1@example.com"}]
    )
    forged = {**complaint, "Message": complaint["Message"].replace("user1@", "user0@")}
    assert request(url, json.dumps(forged).encode())[0] == 401
    unsigned = {k: v for k, v in complaint.items() if k != "Signature"}
    assert request(url, json.dumps(unsigned).encode())[0] == 401
    the_list = stores.for_settings(Settings.from_env()).suppression
    assert the_list.get("user0@example.com") is None and the_list.get("user1@example.com") is None

    assert request(url, json.dumps(complaint).encode())[0] == 200
    assert request(url, json.dumps(complaint).encode())[0] == 409
    delivery = notification(delivered, "Delivery", recipients=["user0@example.com"])
    assert request(url, json.dumps(delivery).encode())[0] == 200
    assert delivery_status(delivered).status == "delivered"
    assert delivery_status(complained).status == "complained"
    assert the_list.get("user1@example.com").reason == "complained"
    assert the_list.get("user0@example.com") is None
    the_record_is_visible_everywhere(web, complained, "complained")


def test_a_concurrent_burst_of_a_thousand_events_is_applied_exactly_once(web, redis_url):
    the_stores = stores.for_settings(Settings.from_env())
    ids = [sent_record(the_stores.client, provider_id=f"sg-{n}") for n in range(1000)]
    events = [sendgrid_event("delivered", "ann@example.com", mailer_message_id=i) for i in ids]
    batches = [json.dumps(events[n : n + 100]).encode() for n in range(0, 1000, 100)]
    # Every batch twice, freshly signed each time, all at once: SendGrid retrying under load.
    posts: list[Callable[[], tuple[int, str]]] = [
        (lambda b=b: request(f"{web}/webhooks/sendgrid", b, SIGNER.headers(b))) for b in batches * 2
    ]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda post: post(), posts))
    assert {code for code, _ in answers} == {200}
    assert sum(int(text.split()[0]) for _, text in answers) == 1000  # "N applied, ..."
    for message_id in ids:
        delivery = the_stores.delivery_log.get(message_id)
        assert delivery.status == "delivered"
        assert [a.outcome for a in delivery.attempts] == ["sent", "delivered"]
    totals = the_stores.client.hget("mailer:metrics:events", "delivered|sendgrid|welcome")
    assert int(totals) == 1000
