"""The templates layer: bundled types, the variables check, rendering, overrides, previews."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jinja2 import TemplateRuntimeError, TemplateSyntaxError, UndefinedError

from mailer.errors import InvalidTemplateName, MissingContext, RenderError, UnknownTemplate
from mailer.settings import Settings
from mailer.templates import BUNDLED_DIR, Templates, for_settings, format_datetime

MINIMAL_CONTEXTS = {
    "welcome": {"name": "Ann"},
    "verify_email": {"name": "Ann", "verify_url": "https://example.com/verify?t=1"},
    "password_reset": {"name": "Ann", "reset_url": "https://example.com/reset?t=1"},
    "appointment_confirmation": {
        "name": "Ann",
        "starts_at": "2026-12-01T10:30:00Z",
        "service": "Haircut",
    },
    "appointment_reminder": {
        "name": "Ann",
        "starts_at": "2026-12-01T10:30:00Z",
        "service": "Haircut",
    },
    "new_post": {"title": "Hello", "url": "https://example.com/p/1", "excerpt": "A first post."},
    "admin_alert": {"subject": "Disk full", "message": "The disk is full."},
}
NEW_TYPE_BODY = '{% extends "base.html" %}{% block content %}<p>{{ amount }}</p>{% endblock %}'


@pytest.fixture
def bundled() -> Templates:
    return Templates([BUNDLED_DIR])


def make_type(root: Path, name: str, subject: str, html: str, text: str | None = None) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_text(subject, encoding="utf-8")
    (folder / "body.html").write_text(html, encoding="utf-8")
    if text is not None:
        (folder / "body.txt").write_text(text, encoding="utf-8")


def test_the_bundled_folder_ships_every_type(bundled: Templates) -> None:
    assert bundled.names() == sorted(MINIMAL_CONTEXTS)
    assert (BUNDLED_DIR / "base.html").is_file()


@pytest.mark.parametrize("name", sorted(MINIMAL_CONTEXTS))
def test_each_type_needs_exactly_its_documented_variables(bundled: Templates, name: str) -> None:
    assert bundled.required_variables(name) == frozenset(MINIMAL_CONTEXTS[name])


@pytest.mark.parametrize("name", sorted(MINIMAL_CONTEXTS))
def test_each_type_renders_with_its_minimal_context(bundled: Templates, name: str) -> None:
    bundled.check(name, MINIMAL_CONTEXTS[name])
    rendered = bundled.render(name, MINIMAL_CONTEXTS[name])
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.html.lstrip().lower().startswith("<!doctype html>")
    assert rendered.text and "{{" not in rendered.text and "{%" not in rendered.text


@pytest.mark.parametrize("name", sorted(MINIMAL_CONTEXTS))
def test_each_type_renders_its_sample_context(bundled: Templates, name: str) -> None:
    context = bundled.sample_context(name)
    bundled.check(name, context)
    assert bundled.render(name, context).subject


def test_a_missing_variable_is_named(bundled: Templates) -> None:
    with pytest.raises(MissingContext) as caught:
        bundled.check("password_reset", {"name": "Ann"})
    assert caught.value.template == "password_reset"
    assert caught.value.missing == ["reset_url"]
    assert "reset_url" in str(caught.value)


def test_extra_variables_are_allowed(bundled: Templates) -> None:
    bundled.check("welcome", {"name": "Ann", "plan": "pro", "app_name": "Acme"})


def test_guarded_variables_are_not_required(tmp_path: Path) -> None:
    make_type(
        tmp_path,
        "guarded",
        "{{ greeting | default('Hello') }} {{ name }}",
        '{% extends "base.html" %}{% from "macros.html" import button %}'
        "{% block content %}{% if promo is defined and promo %}{{ promo.code }}{% endif %}"
        "{{ nick if nick is defined else '' }}{% if coupon is undefined %}-{% endif %}"
        "{% for item in items %}{{ item }}{% endfor %}{{ button(url, 'Go') }}{% endblock %}",
    )
    assert Templates([tmp_path, BUNDLED_DIR]).required_variables("guarded") == {
        "name",
        "items",
        "url",
    }


def test_variables_of_included_templates_are_required(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "sig.html").write_text("{{ signer }}", encoding="utf-8")
    make_type(tmp_path, "signed", "Hi", '{% include "partials/sig.html" %}')
    templates = Templates([tmp_path])
    assert templates.required_variables("signed") == {"signer"}
    with pytest.raises(MissingContext):
        templates.check("signed", {})


def test_the_check_is_cached_per_type(bundled: Templates) -> None:
    assert bundled.required_variables("welcome") is bundled.required_variables("welcome")


@pytest.mark.parametrize(
    "name", ["../etc", "a/b", "/abs", "", ".hidden", "welcome\n", "we lcome", None, 3]
)
def test_names_that_are_not_plain_folder_names_are_refused(bundled: Templates, name: str) -> None:
    with pytest.raises(InvalidTemplateName):
        bundled.check(name, {})
    with pytest.raises(InvalidTemplateName):
        bundled.render(name, {})
    assert not bundled.exists(name)


def test_an_unknown_type_lists_the_known_ones(bundled: Templates) -> None:
    with pytest.raises(UnknownTemplate) as caught:
        bundled.check("no_such_type", {})
    assert "welcome" in str(caught.value) and "password_reset" in str(caught.value)
    with pytest.raises(UnknownTemplate):
        bundled.render("no_such_type", {})
    assert bundled.exists("welcome") and not bundled.exists("no_such_type")


def test_html_is_escaped_and_text_is_not(bundled: Templates) -> None:
    context = {**MINIMAL_CONTEXTS["verify_email"], "name": "<script>alert(1)</script>"}
    rendered = bundled.render("verify_email", context)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "Hi <script>alert(1)</script>," in rendered.text
    assert bundled.render("welcome", {"name": "A & B"}).subject == "Welcome, A & B"


def test_the_subject_never_carries_a_line_break(bundled: Templates) -> None:
    context = {"subject": "Disk\r\nfull\n\n  now\u2028", "message": "x"}
    subject = bundled.render("admin_alert", context).subject
    assert subject == "[Admin alert] Disk full now"


def test_css_is_inlined(tmp_path: Path, bundled: Templates) -> None:
    assert "<h1 style=" in bundled.render("welcome", {"name": "Ann"}).html
    make_type(tmp_path, "styled", "Hi", "<style>p { color: red }</style><p>Hello</p>")
    html = Templates([tmp_path]).render("styled", {}).html
    assert '<p style="color: red' in html and "<style" not in html


def test_derived_text_keeps_the_links(bundled: Templates) -> None:
    assert not (BUNDLED_DIR / "welcome" / "body.txt").exists()
    context = {**MINIMAL_CONTEXTS["welcome"], "login_url": "https://example.com/login"}
    text = bundled.render("welcome", context).text
    assert "https://example.com/login" in text and "Get started" in text
    assert "<" not in text and "  \n" not in text


def test_body_txt_is_used_when_present(bundled: Templates) -> None:
    text = bundled.render("password_reset", MINIMAL_CONTEXTS["password_reset"]).text
    assert "https://example.com/reset?t=1" in text and "[" not in text


def test_an_app_folder_overrides_a_type_and_adds_one(tmp_path: Path) -> None:
    html = '{% extends "base.html" %}{% block content %}<p>Ours, {{ name }}</p>{% endblock %}'
    make_type(tmp_path, "password_reset", "App reset for {{ name }}", html)
    make_type(tmp_path, "invoice", "Invoice {{ number }}", NEW_TYPE_BODY)
    templates = Templates([tmp_path, BUNDLED_DIR])
    assert templates.names() == sorted([*MINIMAL_CONTEXTS, "invoice"])
    rendered = templates.render("password_reset", {"name": "Ann"})
    assert rendered.subject == "App reset for Ann"
    # The type's files all come from the app's folder: no bundled body.txt with it.
    assert rendered.text.startswith("Ours, Ann")
    assert templates.required_variables("invoice") == {"number", "amount"}
    assert "12.50" in templates.render("invoice", {"number": 7, "amount": "12.50"}).html


def test_an_app_folder_may_override_the_shared_layout(tmp_path: Path) -> None:
    (tmp_path / "base.html").write_text("<main>{% block content %}{% endblock %}</main>")
    html = Templates([tmp_path, BUNDLED_DIR]).render("welcome", {"name": "Ann"}).html
    assert "<main>" in html and "Welcome, Ann" in html


def test_write_preview_writes_html_and_text(tmp_path: Path, bundled: Templates) -> None:
    out = tmp_path / "preview"
    paths = bundled.write_preview("welcome", {"name": "Ann"}, out)
    assert paths == [out / "welcome.html", out / "welcome.txt"]
    assert "Welcome, Ann" in paths[0].read_text(encoding="utf-8")
    text = paths[1].read_text(encoding="utf-8")
    assert text.startswith("Subject: Welcome, Ann\n\n")
    with pytest.raises(MissingContext):
        bundled.write_preview("welcome", {}, out)


def test_sample_context_fills_what_the_sample_lacks(tmp_path: Path) -> None:
    make_type(tmp_path, "trip", "{{ title }}", "{{ starts_at | datetime }} {{ map_url }}")
    context = Templates([tmp_path]).sample_context("trip")
    assert context["map_url"].startswith("https://")
    assert Templates([tmp_path]).render("trip", context).subject == context["title"]


def test_template_errors_become_render_errors(tmp_path: Path) -> None:
    make_type(tmp_path, "broken", "Hi {{ name }}", "{{ name | no_such_filter }}")
    make_type(tmp_path, "unclosed", "Hi", "{% if x %}")
    make_type(tmp_path, "strict", "Hi", "{{ nick | upper }}")
    templates = Templates([tmp_path])
    # A broken template is the app's defect, not the caller's: only rendering reports it.
    templates.check("broken", {"name": "Ann"})
    with pytest.raises(RenderError, match=r"'broken'.*no_such_filter") as caught:
        templates.render("broken", {"name": "Ann"})
    assert caught.value.__cause__ is not None
    with pytest.raises(RenderError, match=r"unclosed/body\.html") as syntax:
        templates.render("unclosed", {})
    assert isinstance(syntax.value.__cause__, TemplateSyntaxError)
    with pytest.raises(RenderError, match="nick") as undefined:
        templates.render("strict", {})
    assert isinstance(undefined.value.__cause__, UndefinedError)


def test_the_datetime_filter() -> None:
    assert format_datetime("2026-12-01T10:30:00Z") == "Tuesday 1 December 2026, 10:30 UTC"
    assert format_datetime("2026-12-01T10:30:00+02:00").endswith("10:30 UTC+02:00")
    assert format_datetime("2026-12-01T10:30:00") == "Tuesday 1 December 2026, 10:30"
    moment = datetime(2026, 12, 1, 9, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert format_datetime(moment, "%Y-%m-%d %H:%M") == "2026-12-01 09:05"
    with pytest.raises(TemplateRuntimeError):
        format_datetime("next Tuesday")


def test_the_datetime_filter_in_a_template(tmp_path: Path) -> None:
    make_type(tmp_path, "when", "{{ at | datetime('%d/%m/%Y') }}", "{{ at | datetime }}")
    templates = Templates([tmp_path])
    rendered = templates.render("when", {"at": "2026-12-01T10:30:00+00:00"})
    assert rendered.subject == "01/12/2026"
    assert "Tuesday 1 December 2026, 10:30 UTC" in rendered.html
    with pytest.raises(RenderError, match="ISO-8601"):
        templates.render("when", {"at": "soon"})


def test_for_settings_puts_the_app_folder_first_and_caches(tmp_path: Path) -> None:
    make_type(tmp_path, "invoice", "Invoice", NEW_TYPE_BODY)
    templates = for_settings(Settings(templates_dir=tmp_path))
    assert templates.directories == (tmp_path, BUNDLED_DIR)
    assert templates is for_settings(Settings(templates_dir=tmp_path))
    assert for_settings(Settings()).directories == (BUNDLED_DIR,)
    assert templates.exists("invoice") and not for_settings(Settings()).exists("invoice")


def test_the_disk_is_looked_at_at_most_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_type(tmp_path, "note", "Hi {{ name }}", "<p>{{ name }}</p>", "{{ name }}")
    templates = Templates([tmp_path, BUNDLED_DIR])
    templates.render("note", {"name": "Ann"})
    looked: list[str] = []
    for call in ("is_file", "stat"):
        original = getattr(Path, call)

        def counted(self: Path, *args: object, _original=original, **kwargs: object) -> object:
            looked.append(str(self))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Path, call, counted)
    os_stat = os.stat
    monkeypatch.setattr(
        "os.stat", lambda *args, **kwargs: looked.append("os.stat") or os_stat(*args, **kwargs)
    )

    for name in ("Bob", "Cy", "Di"):
        assert templates.render("note", {"name": name}).text == name

    assert looked == []


def test_a_changed_or_added_file_is_used_once_a_second_has_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailer.templates.loader.RECHECK_S", 0.05)
    make_type(tmp_path, "note", "Hi {{ name }}", "<p>{{ name }}</p>")
    templates = Templates([tmp_path])
    assert templates.render("note", {"name": "Ann"}).subject == "Hi Ann"

    (tmp_path / "note" / "subject.txt").write_text("Hello {{ name }}")
    (tmp_path / "note" / "body.txt").write_text("Plain {{ name }}")
    time.sleep(0.1)

    rendered = templates.render("note", {"name": "Ann"})
    assert (rendered.subject, rendered.text) == ("Hello Ann", "Plain Ann")


def test_jinja_s_own_globals_are_there_from_a_plain_dict(tmp_path: Path) -> None:
    folder = tmp_path / "counted"
    folder.mkdir()
    (folder / "subject.txt").write_text("{% for i in range(3) %}{{ i }}{% endfor %}")
    (folder / "body.html").write_text(
        "{% set ns = namespace(n=0) %}{% for _ in range(4) %}{% set ns.n = ns.n + 1 %}"
        "{% endfor %}<p>{{ ns.n }} for {{ name }}</p>"
    )
    templates = Templates([tmp_path])
    rendered = templates.render("counted", {"name": "Ann"})
    assert rendered.subject == "012"
    assert "<p>4 for Ann</p>" in rendered.html
    body = templates._html.get_template("counted/body.html")
    assert type(body.globals) is dict  # copied once, not read through a ChainMap per render
