"""A logged email shown again as it went out, sensitive values masked, labelled when its
template has changed since."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from mailer import send_email, settings, stores
from mailer.api.rerender import render_masked, rerender
from mailer.masking import MASK
from mailer.templates import BUNDLED_DIR
from tests.support.brokers import drain

RESET = {"name": "Ann", "app_name": "Acme", "reset_url": "https://app.test/reset?token=s3cret"}


def test_a_sent_email_is_rendered_again_with_its_secret_masked(
    stub_broker: Any, stub_worker: Any, mailer_settings: settings.Settings
) -> None:
    message_id = send_email("password_reset", "ann@example.com", RESET)
    drain(stub_broker, stub_worker)
    delivery = stores.for_settings(mailer_settings).delivery_log.get(message_id)
    assert delivery is not None and delivery.status == "sent"
    assert delivery.context == {**RESET, "reset_url": MASK}  # kept masked
    shown = rerender(delivery)
    assert shown.subject == "Reset your password" and "Hi Ann" in shown.text
    assert "s3cret" not in shown.html + shown.text + repr(shown.context)
    assert MASK in shown.text
    assert shown.template_changed is False
    assert shown.envelope["to"] == ["ann@example.com"]


def test_a_changed_template_is_labelled(
    stub_broker: Any,
    stub_worker: Any,
    mailer_settings: settings.Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mailer.templates.loader.RECHECK_S", 0.0)  # look at the files every time
    shutil.copytree(BUNDLED_DIR / "password_reset", tmp_path / "password_reset")
    own = dataclasses.replace(mailer_settings, templates_dir=tmp_path)
    settings.configure(own)
    message_id = send_email("password_reset", "ann@example.com", RESET)
    drain(stub_broker, stub_worker)
    delivery = stores.for_settings(own).delivery_log.get(message_id)
    assert delivery is not None
    (tmp_path / "password_reset" / "subject.txt").write_text("Reset it, {{ name }}\n")
    shown = rerender(delivery)
    assert shown.template_changed is True
    assert shown.subject == "Reset it, Ann"


def test_any_type_renders_masked_with_what_the_log_does_not_keep_masked_too() -> None:
    shown = render_masked("new_post", {"verify_url": "x", "title": "Hi"}, sensitive=["title"])
    assert "Hi" not in shown.subject and shown.context["title"] == MASK
