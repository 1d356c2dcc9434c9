"""Who gets into the dashboard, through its WSGI app: when it starts at all, and which
credentials open it."""

from __future__ import annotations

import os

import pytest

from mailer.errors import ConfigurationError
from mailer.settings import Settings
from mailer.web.app import make_app
from tests.support.dashboard_client import PASSWORD, USER, Client

# --- starting ---------------------------------------------------------------------------


def test_refuses_to_start_without_an_account_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError) as refused:
        make_app(Settings(redis_url=os.environ["REDIS_URL"]))
    assert refused.value.variable == "MAILER_DASHBOARD_USER"


def test_refuses_a_user_name_basic_auth_cannot_carry() -> None:
    configured = Settings(dashboard_user="ops:team", dashboard_password=PASSWORD)
    with pytest.raises(ConfigurationError, match="colon") as refused:
        make_app(configured)
    assert refused.value.variable == "MAILER_DASHBOARD_USER"
    assert PASSWORD not in str(refused.value)


def test_starts_without_an_account_only_when_told_it_is_local(
    dashboard_settings: Settings,
) -> None:
    open_app = make_app(Settings(redis_url=os.environ["REDIS_URL"]), allow_unauthenticated=True)
    assert Client(open_app, auth=None).get("/").status == 200


def test_the_module_level_app_is_built_from_the_configured_settings(
    dashboard_settings: Settings,
) -> None:
    from mailer.web.app import app

    assert Client(app).get("/").status == 200
    assert Client(app, auth=None).get("/").status == 401


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [None, (USER, "wrong"), ("someone", PASSWORD), (USER, ""), (USER, PASSWORD + "x")],
    ids=["none", "wrong-password", "wrong-user", "empty-password", "longer-password"],
)
def test_every_page_but_health_needs_the_account(
    client: Client, auth: tuple[str, str] | None
) -> None:
    for path in ("/", "/deliveries", "/dead-letters", "/queues", "/metrics"):
        answer = client.get(path, auth=auth)
        assert answer.status == 401, path
        assert answer.header("WWW-Authenticate") == 'Basic realm="mailer"'
        assert PASSWORD not in answer.body


@pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!", "Basic " + "b3Bz", "Basic"])
def test_a_malformed_authorization_header_is_a_401(client: Client, header: str) -> None:
    assert client.get("/", headers={"Authorization": header}, auth=None).status == 401


def test_the_right_account_opens_every_page(client: Client) -> None:
    for path in ("/", "/deliveries", "/dead-letters", "/queues"):
        assert client.get(path).status == 200, path


def test_health_is_open_for_the_platform(client: Client) -> None:
    answer = client.get("/healthz", auth=None)
    assert answer.status == 200
    assert '"status": "ok"' in answer.body
