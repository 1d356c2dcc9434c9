"""SNS's and SendGrid's signatures: what is accepted, and every way a forgery is refused."""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives import serialization

from mailer.provider_events import RefusedEvent
from mailer.provider_events.sendgrid import SendGridVerifier, load_public_key
from mailer.provider_events.sns import SNSVerifier, timestamp_s
from tests.support.provider_signing import TOPIC, SendGridSigner, SNSSigner, ses_event


def verifier(signer: SNSSigner, **options) -> SNSVerifier:
    fetched = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return signer.certificate_pem

    made = SNSVerifier(fetch=fetch, **options)
    made.fetched = fetched  # type: ignore[attr-defined]
    return made


def body(envelope: dict[str, str]) -> bytes:
    return json.dumps(envelope).encode()


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_sns_notification_is_accepted_in_either_signature_version(sns_signer, version):
    check = verifier(sns_signer)
    event = ses_event("Delivery", "ses-1", "ann@example.com")
    envelope = sns_signer.sign(sns_signer.notification(event), version)
    assert check.envelope(body(envelope))["Message"] == envelope["Message"]
    assert check.envelope(body(envelope))  # the certificate is fetched once, then kept
    assert check.fetched == [sns_signer.cert_url]  # type: ignore[attr-defined]
    assert abs(timestamp_s(envelope) - time.time()) < 5


def test_a_confirmation_is_signed_over_its_own_fields(sns_signer):
    envelope = sns_signer.sign(sns_signer.confirmation("https://sns.us-east-1.amazonaws.com/x"))
    assert verifier(sns_signer).envelope(body(envelope))["Token"] == "2336412f37f"


@pytest.mark.parametrize(
    "change",
    [
        {"Message": json.dumps(ses_event("Bounce", "ses-1", "ann@example.com"))},
        {"Timestamp": "2031-01-01T00:00:00.000Z"},
        {"Type": "SubscriptionConfirmation"},
        {"Signature": "bm90IGEgc2lnbmF0dXJl"},
        {"Signature": "%%% not base64"},
        {"SignatureVersion": "3"},
    ],
)
def test_an_altered_sns_message_is_refused(sns_signer, change):
    event = ses_event("Delivery", "ses-1", "ann@example.com")
    envelope = {**sns_signer.sign(sns_signer.notification(event)), **change}
    with pytest.raises(RefusedEvent) as refused:
        verifier(sns_signer).envelope(body(envelope))
    assert 400 <= refused.value.status < 500


def test_an_unsigned_sns_message_is_refused(sns_signer):
    envelope = sns_signer.notification(ses_event("Delivery", "ses-1", "ann@example.com"))
    with pytest.raises(RefusedEvent, match="unsigned"):
        verifier(sns_signer).envelope(body(envelope))


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",  # not https
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
        "http://127.0.0.1:80801/cert.pem",  # beside the trusted prefix, not under it
    ],
)
def test_a_certificate_from_anywhere_but_sns_is_not_fetched(sns_signer, url):
    check = verifier(sns_signer, trusted_url_prefix="http://127.0.0.1:8080")
    sns_signer.cert_url = url
    try:
        envelope = sns_signer.sign(sns_signer.notification(ses_event("Open", "s", "a@b.example")))
    finally:
        sns_signer.cert_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-t.pem"
    with pytest.raises(RefusedEvent, match="SigningCertURL"):
        check.envelope(body(envelope))
    assert check.fetched == []  # type: ignore[attr-defined]


def test_sns_hosts_of_every_region_are_trusted():
    check = SNSVerifier()
    assert check.trusted("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem")
    assert check.trusted("https://sns.cn-north-1.amazonaws.com.cn/x.pem")


def test_only_the_configured_topics_are_accepted(sns_signer):
    envelope = sns_signer.sign(sns_signer.notification(ses_event("Open", "s", "a@b.example")))
    assert verifier(sns_signer, topic_arns=(TOPIC,)).envelope(body(envelope))
    with pytest.raises(RefusedEvent, match="topic"):
        verifier(sns_signer, topic_arns=("arn:aws:sns:us-east-1:1:other",)).envelope(body(envelope))


def test_a_signed_sendgrid_batch_is_accepted_and_any_change_refused():
    signer = SendGridSigner()
    check = SendGridVerifier(load_public_key(signer.public_key))
    payload = b'[{"event":"delivered","email":"ann@example.com"}]'
    headers = signer.headers(payload)
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    stamp = headers["X-Twilio-Email-Event-Webhook-Timestamp"]
    check.verify(payload, signature, stamp)
    for forged in [
        (payload.replace(b"delivered", b"bounce"), signature, stamp),
        (payload, signature, str(int(stamp) + 1)),
        (
            payload,
            SendGridSigner().headers(payload)["X-Twilio-Email-Event-Webhook-Signature"],
            stamp,
        ),
        (payload, "", stamp),
        (payload, "!!!", stamp),
    ]:
        with pytest.raises(RefusedEvent) as refused:
            check.verify(*forged)
        assert refused.value.status == 401


def test_the_public_key_is_read_as_sendgrid_shows_it_or_as_pem():
    signer = SendGridSigner()
    pem = signer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert (
        load_public_key(signer.public_key).public_numbers()
        == signer.key.public_key().public_numbers()
    )
    assert (
        load_public_key(pem.decode()).public_numbers() == signer.key.public_key().public_numbers()
    )
    for bad in ["", "not a key", "TUZrd0V3WUhL"]:
        with pytest.raises(ValueError, match="public key"):
            load_public_key(bad)
