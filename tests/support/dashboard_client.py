"""The dashboard's WSGI app called as a browser would, and the fixtures that set it up.

``client`` serves the dashboard on the suite's Redis (emptied) with an operator account;
``Client`` keeps the cookies the app sets, so a test can post a form with its CSRF token.
"""

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
