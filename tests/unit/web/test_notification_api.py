"""The notification JSON endpoints through the dashboard's WSGI app: the stream's token opens
one user's notifications and nobody else's, pages follow the cursor, marks stick."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

from mailer import settings
from mailer.api import inbox
from mailer.settings import Settings
from mailer.web.app import make_app
from tests.support.dashboard_client import Client, Result

ORIGIN = "https://app.example"


@pytest.fixture
def api(dashboard_settings: Settings) -> Iterator[Client]:
    keyed = dataclasses.replace(dashboard_settings, secret_key="s" * 40, cors_origins=(ORIGIN,))
    settings.configure(keyed)
    yield Client(make_app(keyed), auth=None)
    settings.configure(dashboard_settings)


def bearer(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {inbox.notification_token(user_id)}"}


def body(result: Result) -> dict[str, object]:
    assert result.header("Content-Type") == "application/json", result
    parsed: dict[str, object] = json.loads(result.body)
    return parsed


def test_a_page_follows_its_cursor_newest_first(api):
    ids = [inbox.notify("ann", f"n{i}") for i in range(5)]
    inbox.notify("bob", "not ann's")
    first = body(api.get("/notifications?limit=2", headers=bearer("ann")))
    assert [item["id"] for item in first["items"]] == ids[:-3:-1]
    assert first["unread"] == 5
    second = body(
        api.get(f"/notifications?limit=3&before={first['next_cursor']}", headers=bearer("ann"))
    )
    assert [item["title"] for item in second["items"]] == ["n2", "n1", "n0"]
    assert second["next_cursor"] is None


def test_marking_one_then_all_read(api):
    ids = [inbox.notify("ann", f"n{i}") for i in range(3)]
    marked = body(api.post(f"/notifications/{ids[0]}/read", {}, headers=bearer("ann")))
    assert marked == {"marked": True, "unread": 2}
    again = body(api.post(f"/notifications/{ids[0]}/read", {}, headers=bearer("ann")))
    assert again == {"marked": False, "unread": 2}
    assert body(api.get("/notifications/unread-count", headers=bearer("ann"))) == {"unread": 2}
    assert body(api.post("/notifications/read-all", {}, headers=bearer("ann"))) == {
        "marked": 2,
        "unread": 0,
    }
    assert inbox.unread_count("ann") == 0


def test_the_token_in_the_query_works_as_the_stream_takes_it(api):
    inbox.notify("ann", "hello")
    token = inbox.notification_token("ann")
    assert body(api.get(f"/notifications/unread-count?token={token}")) == {"unread": 1}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer forged.token"}, {"Authorization": "Basic b3BzOng="}],
)
def test_without_a_valid_token_nothing_is_read_or_marked(api, headers):
    inbox.notify("ann", "hello")
    for answer in (
        api.get("/notifications", headers=headers),
        api.post("/notifications/read-all", {}, headers=headers),
    ):
        assert answer.status == 401
        assert answer.header("WWW-Authenticate") == "Bearer"
    assert inbox.unread_count("ann") == 1


def test_an_expired_token_is_refused(api):
    token = inbox.notification_token("ann", ttl_s=1)
    import time

    time.sleep(1.1)
    assert api.get("/notifications", headers={"Authorization": f"Bearer {token}"}).status == 401


def test_cors_as_the_stream_has_it(api):
    allowed = api.get("/notifications", headers={**bearer("ann"), "Origin": ORIGIN})
    assert allowed.header("Access-Control-Allow-Origin") == ORIGIN
    other = api.get("/notifications", headers={**bearer("ann"), "Origin": "https://evil.example"})
    assert other.header("Access-Control-Allow-Origin") is None
    preflight = api.request("OPTIONS", "/notifications/read-all", headers={"Origin": ORIGIN})
    assert preflight.status == 204
    assert "Authorization" in (preflight.header("Access-Control-Allow-Headers") or "")
    assert "POST" in (preflight.header("Access-Control-Allow-Methods") or "")


def test_bad_input_and_wrong_methods_are_json_errors(api):
    assert api.get("/notifications?limit=0", headers=bearer("ann")).status == 400
    assert api.get("/notifications?before=nope", headers=bearer("ann")).status == 400
    assert api.post("/notifications/nope/read", {}, headers=bearer("ann")).status == 400
    wrong = api.get("/notifications/read-all", headers=bearer("ann"))
    assert wrong.status == 405 and wrong.header("Allow") == "POST, OPTIONS"
    assert api.get("/notifications/elsewhere", headers=bearer("ann")).status == 404


def test_the_endpoints_need_the_secret_key(client):
    assert client.get("/notifications", auth=None).status == 503
