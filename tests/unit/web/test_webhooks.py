"""``/webhooks/ses`` and ``/webhooks/sendgrid`` called as the providers call them, open to
anyone without the dashboard's account: signed requests apply, others change nothing."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from wsgiref.util import setup_testing_defaults

import pytest

from mailer import stores
from mailer.errors import ConfigurationError
from mailer.web import webhooks
from mailer.web.app import make_app
from tests.support.provider_signing import (
    SendGridSigner,
    sendgrid_event,
    sent_record,
    ses_event,
)

SIGNER = SendGridSigner()


@pytest.fixture
def hooked(dashboard_settings, certificate_server):
    return dataclasses.replace(
        dashboard_settings,
        sendgrid_webhook_public_key=SIGNER.public_key,
        sns_trusted_url=certificate_server.url,
    )


def post(app, path, body: bytes, headers=None, method="POST"):
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        CONTENT_LENGTH=str(len(body)),
        CONTENT_TYPE="application/json",
    )
    environ["wsgi.input"] = io.BytesIO(body)
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured = []
    answer = b"".join(app(environ, lambda status, hdrs, *exc: captured.append(status)))
    return int(captured[0].split()[0]), answer.decode()


def test_a_signed_sendgrid_batch_applies_and_forged_old_or_replayed_ones_do_not(hooked):
    app, the_stores = make_app(hooked), stores.for_settings(hooked)
    message_id = sent_record(the_stores.client)
    body = json.dumps([sendgrid_event("bounce", "ann@example.com", mailer_message_id=message_id)])
    headers = SIGNER.headers(body.encode())
    forged = body.replace("bounce", "delivered").encode()
    refused = [
        post(app, webhooks.SENDGRID_PATH, forged, headers),
        post(app, webhooks.SENDGRID_PATH, body.encode()),  # unsigned
        post(
            app,
            webhooks.SENDGRID_PATH,
            body.encode(),
            SIGNER.headers(body.encode(), time.time() - 2 * 86400),
        ),
        post(app, webhooks.SENDGRID_PATH, b"", headers),
    ]
    assert [status for status, _ in refused] == [401, 401, 400, 411]
    assert the_stores.delivery_log.get(message_id).status == "sent"
    assert post(app, webhooks.SENDGRID_PATH, body.encode(), headers)[0] == 200
    assert the_stores.delivery_log.get(message_id).status == "bounced"
    assert the_stores.suppression.get("ann@example.com").reason == "bounced"
    assert post(app, webhooks.SENDGRID_PATH, body.encode(), headers)[0] == 409
    assert post(app, webhooks.SENDGRID_PATH, b"", method="GET")[0] == 405


def test_sns_confirms_its_subscription_then_delivers_ses_events(
    hooked, sns_signer, certificate_server
):
    app, the_stores = make_app(hooked), stores.for_settings(hooked)
    confirm = sns_signer.sign(sns_signer.confirmation(f"{certificate_server.url}/confirm?Token=t"))
    assert post(app, webhooks.SES_PATH, json.dumps(confirm).encode())[0] == 200
    assert certificate_server.confirmations == ["/confirm?Token=t"]
    message_id = sent_record(the_stores.client, backend="ses", provider_id="ses-1")
    complaint = ses_event(
        "Complaint",
        "ses-1",
        "ann@example.com",
        complainedRecipients=[{"emailAddress": "ann@example.com"}],
    )
    envelope = json.dumps(sns_signer.sign(sns_signer.notification(complaint), "1")).encode()
    assert post(app, webhooks.SES_PATH, envelope)[0] == 200
    assert the_stores.delivery_log.get(message_id).status == "complained"
    assert the_stores.suppression.get("ann@example.com").reason == "complained"
    assert post(app, webhooks.SES_PATH, envelope)[0] == 409


def test_a_subscription_elsewhere_than_sns_is_not_confirmed(hooked, sns_signer, certificate_server):
    confirm = sns_signer.sign(sns_signer.confirmation("https://attacker.example/confirm"))
    assert post(make_app(hooked), webhooks.SES_PATH, json.dumps(confirm).encode())[0] == 400
    assert certificate_server.confirmations == []


def test_without_a_key_the_sendgrid_endpoint_says_so_and_a_bad_key_stops_the_dashboard(
    dashboard_settings,
):
    status, answer = post(make_app(dashboard_settings), webhooks.SENDGRID_PATH, b"[]")
    assert status == 503 and "MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY" in answer
    bad = dataclasses.replace(dashboard_settings, sendgrid_webhook_public_key="not a key")
    with pytest.raises(ConfigurationError, match="MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY"):
        make_app(bad)
