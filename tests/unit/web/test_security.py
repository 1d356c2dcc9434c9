"""What a dashboard response may do in a browser, and which actions it refuses: security
headers, cross-site request forgery, and the routes that exist."""

from __future__ import annotations

import pytest

from mailer.settings import Settings
from mailer.web import csrf
from tests.support.dashboard_client import Client

# --- headers ----------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(client: Client) -> None:
    for answer in (client.get("/"), client.get("/", auth=None), client.get("/queues")):
        policy = answer.header("Content-Security-Policy") or ""
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        # Scripts only from the dashboard's own files: none inline, none from elsewhere.
        assert "script-src 'self';" in policy and "unsafe-inline' " not in policy.split("style")[0]
        assert answer.header("X-Frame-Options") == "DENY"
        assert answer.header("X-Content-Type-Options") == "nosniff"
        assert answer.header("Referrer-Policy") == "no-referrer"
        assert answer.header("Cache-Control") == "no-store"


# --- cross-site request forgery ---------------------------------------------------------


def test_the_csrf_cookie_is_strict_and_out_of_scripts_reach(client: Client) -> None:
    cookie = client.get("/").header("Set-Cookie") or ""
    assert cookie.startswith(f"{csrf.COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie


def test_a_post_without_the_token_is_refused(client: Client) -> None:
    client.get("/dead-letters")
    assert client.post("/dead-letters/requeue", {}).status == 403
    assert client.post("/dead-letters/requeue", {"csrf_token": "0" * 64}).status == 403


def test_a_post_with_the_token_is_accepted(client: Client) -> None:
    client.get("/dead-letters")
    answer = client.post("/dead-letters/requeue", {"csrf_token": client.csrf_token})
    assert answer.status == 303
    assert answer.header("Location") == "/dead-letters?done=requeued&count=0"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.1"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1.evil.example"},
    ],
    ids=["cross-site", "same-site", "fetch-site-wins", "other-origin", "lookalike-origin"],
)
def test_a_cross_origin_post_is_refused_even_with_the_token(
    client: Client, headers: dict[str, str]
) -> None:
    client.get("/dead-letters")
    form = {"csrf_token": client.csrf_token}
    assert client.post("/dead-letters/requeue", form, headers=headers).status == 403
    # dramatiq-dashboard's own forms too, which otherwise rely on their own token alone.
    assert client.post("/queues/requeue-message", {}, headers=headers).status == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1"},
        # What Chromium sends for the dashboard's own forms under Referrer-Policy: no-referrer.
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        {"Origin": "http://127.0.0.1"},
        {},
    ],
    ids=["same-origin", "no-referrer", "origin-only", "neither"],
)
def test_a_same_origin_post_with_the_token_is_accepted(
    client: Client, headers: dict[str, str]
) -> None:
    client.get("/dead-letters")
    form = {"csrf_token": client.csrf_token}
    assert client.post("/dead-letters/delete", form, headers=headers).status == 303


def test_an_opaque_origin_still_needs_the_token(client: Client) -> None:
    client.get("/dead-letters")
    assert client.post("/dead-letters/delete", {}, headers={"Origin": "null"}).status == 403


# --- routing ----------------------------------------------------------------------------


def test_unknown_paths_and_methods(client: Client) -> None:
    assert client.get("/nowhere").status == 404
    assert client.get("/dead-letters/requeue").status == 405
    assert client.request("HEAD", "/").status == 200
    assert client.request("HEAD", "/").body == ""


def test_metrics_sit_behind_the_account(client: Client) -> None:
    assert client.get("/metrics", auth=None).status == 401
    answer = client.get("/metrics")
    assert answer.status == 200
    assert "# TYPE mailer_emails_total counter" in answer.body


# --- the public endpoints ----------------------------------------------------------------


def test_signed_endpoints_without_a_secret_key_say_so(client: Client) -> None:
    for path in ("/unsubscribe/abc.def.ghi", "/notifications/stream?token=x"):
        answer = client.get(path, auth=None)
        assert answer.status == 503 and "MAILER_SECRET_KEY" in answer.body


def test_signed_endpoints_need_their_token_not_the_operators_login(
    dashboard_settings: Settings,
) -> None:
    import dataclasses

    from mailer.signing import Signer
    from mailer.web.app import make_app

    keyed = dataclasses.replace(dashboard_settings, secret_key="k" * 40)
    client = Client(make_app(keyed), auth=None)
    assert client.get("/").status == 401  # the dashboard itself still asks for the login
    assert client.post("/unsubscribe/forged.token.here", {}).status == 400
    assert client.get("/notifications/stream?token=forged").status == 403
    token = Signer("k" * 40, "unsubscribe").sign("ann@example.com")
    answer = client.post(f"/unsubscribe/{token}", {"List-Unsubscribe": "One-Click"})
    assert answer.status == 200 and "unsubscribed" in answer.body
