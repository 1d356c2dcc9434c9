"""Who gets into the dashboard, through its WSGI app: when it starts at all, and which
credentials open it. ``Client`` and the fixtures serve the other ``test_dashboard_*`` modules."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
import redis

from mailer import settings
from mailer.errors import ConfigurationError
from mailer.settings import Settings
from mailer.web import csrf
from mailer.web.app import make_app
from mailer.web.http import WSGIApp

USER = "ops"
PASSWORD = "correct horse battery staple"


@dataclass
class Result:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Client:
    """Calls the WSGI app as a browser would: Basic auth, and the cookies it was given.

    ``auth=None`` sends no credentials, ``auth=(user, password)`` others than the client's.
    """

    app: WSGIApp
    auth: tuple[str, str] | None = (USER, PASSWORD)
    cookies: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **options: Any) -> Result:
        return self.request("GET", path, **options)

    def post(self, path: str, form: dict[str, str], **options: Any) -> Result:
        return self.request("POST", path, form=form, **options)

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | EllipsisType | None = ...,
    ) -> Result:
        environ = self._environ(
            method, path, form, headers or {}, self.auth if auth is ... else auth
        )
        captured: list[Any] = []
        chunks = self.app(environ, lambda status, hdrs, *exc: captured.extend([status, hdrs]))
        body = b"".join(chunks)
        status, response_headers = captured
        for name, value in response_headers:
            if name.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                self.cookies[cookie_name] = rest.split(";")[0]
        return Result(int(status.split()[0]), response_headers, body.decode())

    @property
    def csrf_token(self) -> str:
        return self.cookies[csrf.COOKIE]

    def _environ(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None,
        headers: dict[str, str],
        auth: Any,
    ) -> dict[str, Any]:
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        path, _, query = path.partition("?")
        body = urlencode(form).encode() if form is not None else b""
        environ.update(
            REQUEST_METHOD=method,
            PATH_INFO=path,
            QUERY_STRING=query,
            CONTENT_LENGTH=str(len(body)),
            CONTENT_TYPE="application/x-www-form-urlencoded" if form is not None else "",
        )
        environ["wsgi.input"] = io.BytesIO(body)
        if auth is not None:
            environ["HTTP_AUTHORIZATION"] = basic(*auth)
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        return environ


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def dashboard_settings() -> Iterator[Settings]:
    """The suite's Redis, emptied, and an operator account."""
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    configured = Settings(
        redis_url=os.environ["REDIS_URL"],
        backend="memory",
        dashboard_user=USER,
        dashboard_password=PASSWORD,
    )
    settings.configure(configured)
    yield configured
    settings.configure(None)


@pytest.fixture
def client(dashboard_settings: Settings) -> Client:
    return Client(make_app(dashboard_settings))


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
