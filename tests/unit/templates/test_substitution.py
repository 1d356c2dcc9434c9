"""Which context values a type's HTML only prints as they are (``substitution``), and the proof
tied to the very templates Jinja renders (``proofs``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from jinja2 import DictLoader, Environment, pass_context

from mailer.templates import BUNDLED_DIR, Templates
from mailer.templates import loader as type_loader
from mailer.templates.proofs import proof_of
from mailer.templates.substitution import not_printed_as_is

MACROS = """{% macro button(href, label) %}<a href="{{ href }}">{{ label }}</a>{% endmacro %}
{% macro shout(text) %}<b>{{ text | upper }}</b>{% endmacro %}"""


def unproven(body: str, environment: Environment | None = None) -> frozenset[str] | None:
    environment = environment or Environment(autoescape=True)
    files = {
        "body.html": body,
        "macros.html": MACROS,
        "base.html": "<p>{% block x %}{% endblock %}",
    }
    environment.loader = DictLoader(files)
    asts = [environment.parse(source) for source in files.values()]
    return not_printed_as_is(asts, environment)


@pytest.mark.parametrize(
    "body",
    [
        "<p>Hi {{ name }}</p>",
        "<p>{{ name | default('there') }}</p>",
        "{% if name is defined %}<p>{{ name }}</p>{% endif %}",
        '{% from "macros.html" import button %}{{ button(name, "Go") }}',
        '{% from "macros.html" import button as b %}{{ b(label=name, href="/") }}',
        '{% extends "base.html" %}{% block x %}{{ name }}{% endblock %}',
        "{% for item in items %}<li>{{ name }}: {{ item }}</li>{% endfor %}",
    ],
)
def test_a_value_printed_as_it_is(body: str) -> None:
    found = unproven(body)
    assert found is not None and "name" not in found


@pytest.mark.parametrize(
    "body",
    [
        "{% if name == 'Ann' %}<p>Ann!</p>{% endif %}{{ name }}",
        "<p>{{ name | upper }}</p>",
        "<p>{{ name | length }}</p>",
        "<p>{{ 'Hi ' ~ name }}</p>",
        "<p>{{ name if name else 'you' }}</p>",
        "{% set greeting = name %}{{ greeting }}",
        "{% set name = 'Bob' %}{{ name }}",
        "{% for name in names %}{{ name }}{% endfor %}",
        "{% filter upper %}{{ name }}{% endfilter %}",
        "{% set block %}{{ name }}{% endset %}{{ block | upper }}",
        '{% from "macros.html" import shout %}{{ shout(name) }}',
        '{% from "macros.html" import button %}{{ button(name, "Go") | upper }}',
        "{% macro hello() %}{{ name }}{% endmacro %}{{ hello() }}",
        "{% for item in name %}{{ item }}{% endfor %}",
        "<p>{{ name[0] }}</p>",
    ],
)
def test_a_value_used_any_other_way(body: str) -> None:
    found = unproven(body)
    assert found is None or "name" in found


@pytest.mark.parametrize(
    "body",
    [
        "<p>{{ name }} {{ now() }}</p>",
        "<p>{{ name }} {{ items | random }}</p>",
        "{% include template_name %}{{ name }}",
        "<p>{{ name }} {{ name.upper() }}</p>",
        "<p>{{ name }} {{ items | map('random') | join }}</p>",
        '{% from "macros.html" import button %}{% set button = lipsum %}{{ button(name, 1) }}',
    ],
)
def test_templates_that_may_print_differently_each_time_prove_nothing(body: str) -> None:
    assert unproven(body) is None


def test_a_filter_handed_the_render_context_proves_nothing() -> None:
    environment = Environment(autoescape=True)
    environment.filters["greet"] = pass_context(lambda context, value: context.get("name"))
    assert unproven("<p>{{ name }} {{ 'x' | greet }}</p>", environment) is None


def test_the_shipped_welcome_prints_every_value_as_it_is() -> None:
    templates = Templates([BUNDLED_DIR])
    templates.render("welcome", templates.sample_context("welcome"))
    proof = proof_of(templates._html, "welcome/body.html")
    assert proof.covers(["name", "app_name", "login_url", "support_email"])
    assert [name for name, _ in proof.templates] == [
        "welcome/body.html",
        "macros.html",
        "base.html",
    ]


def test_an_edited_template_is_proven_again_and_renders_as_edited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(type_loader, "RECHECK_S", 0.0)
    folder = tmp_path / "note"
    folder.mkdir()
    (folder / "subject.txt").write_text("Hi")
    body = folder / "body.html"
    body.write_text("<p>Hello {{ name }}</p>")
    templates = Templates([tmp_path])
    full = Templates([tmp_path], share_rendering=False)
    for name in ("Ann", "Bob"):
        assert (
            templates.render("note", {"name": name}).html
            == full.render("note", {"name": name}).html
        )
    proof = templates._proof("note")
    assert proof.covers(["name"])

    time.sleep(0.01)  # a later modification time
    body.write_text("<p>Hello {% if name == 'Cyd' %}friend{% else %}{{ name }}{% endif %}</p>")
    assert not proof.current()
    for name in ("Cyd", "Dee"):  # same length as before: the old marked render would fit
        assert (
            templates.render("note", {"name": name}).html
            == full.render("note", {"name": name}).html
        )
    assert "friend" in templates.render("note", {"name": "Cyd"}).html
    assert not templates._proof("note").covers(["name"])
