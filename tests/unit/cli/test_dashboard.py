"""``mailer dashboard``: refuses to serve without an account, and serves an open one only on
the loopback interface. serving is replaced by a recorder: what is checked is where the
command would listen and what it would serve."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

import pytest

from mailer import settings
from mailer.cli import dashboard
from mailer.errors import ConfigurationError
from mailer.settings import Settings


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mailer")
    dashboard.register(parser.add_subparsers(required=True))
    args = parser.parse_args(["dashboard", *argv])
    code: int = args.run(args)
    return code


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(dashboard, "serve", lambda app, **options: calls.append(options) or 0)
    monkeypatch.delenv("PORT", raising=False)
    return calls


@pytest.fixture
def no_account() -> Iterator[None]:
    settings.configure(Settings(redis_url=os.environ["REDIS_URL"]))
    yield
    settings.configure(None)


@pytest.fixture
def account() -> Iterator[None]:
    configured = Settings(
        redis_url=os.environ["REDIS_URL"], dashboard_user="ops", dashboard_password="pw-123456"
    )
    settings.configure(configured)
    yield
    settings.configure(None)


def test_refuses_to_serve_without_an_account(
    no_account: None, served: list[dict[str, Any]]
) -> None:
    with pytest.raises(ConfigurationError, match="MAILER_DASHBOARD_USER"):
        run()
    assert served == []


def test_unauthenticated_local_serves_on_the_loopback_only(
    no_account: None, served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--unauthenticated-local", "--port", "8123") == 0
    assert served == [{"host": "127.0.0.1", "port": 8123, "threads": 64}]
    assert "open to anyone on this machine" in capsys.readouterr().err


def test_unauthenticated_local_refuses_another_interface(
    no_account: None, served: list[dict[str, Any]]
) -> None:
    with pytest.raises(ConfigurationError, match=r"127\.0\.0\.1 only"):
        run("--unauthenticated-local", "--host", "0.0.0.0")
    assert served == []


def test_with_an_account_it_listens_everywhere_on_port_from_the_environment(
    account: None, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "5050")
    assert run() == 0
    assert served == [{"host": "0.0.0.0", "port": 5050, "threads": 64}]


def test_the_password_is_never_printed(
    account: None, served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    run("--port", "8124")
    printed = capsys.readouterr()
    assert "pw-123456" not in printed.out + printed.err
    assert "pw-123456" not in repr(settings.current())
