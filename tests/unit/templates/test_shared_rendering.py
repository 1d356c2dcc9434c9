"""Rendering work shared between recipients gives exactly what rendering each email in full
gives: the same inlined HTML and the same text, character for character, for any values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.templates import BUNDLED_DIR, Templates

# Values as recipients have them: plain names, and everything that must not be shared
# (spaces at the ends or doubled, markup characters, control and private-use characters).
NAMES = st.one_of(
    st.sampled_from(["Ann", "User 12", "Zoë Łukasiewicz", "李小龙", "O'Neil", "A & B", "x" * 70]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=0, max_size=30),
)

# Layouts that defeat sharing unless each rule of the module holds: centred cells in a
# two-column table (alignment by line length), values in attributes matched by a selector, in
# <style>, <pre>, <title> and comments, values filtered, compared, measured or looped over.
ADVERSARIAL = """<!DOCTYPE html><html><head><title>{{ name }}</title>
<style>a[title^="A"] { color: red; } p:empty { display: none; } .c { text-align: center; }
td.n { color: {{ colour }}; }</style></head><body>
<!-- for {{ name }} -->
<p>Hello, {{ name }}! {{ name }}{{ other }} and {{ name | upper }} ({{ name | length }}).</p>
<p>{{ other }}</p><p></p>
{% if name == "Ann" %}<h1>Ann again</h1>{% endif %}
<table><tr><td class="c" align="center">{{ name }}</td><td>{{ other }}</td></tr>
<tr><td class="n" align="right">x</td><td align="center">{{ other }} {{ name }}</td></tr></table>
<table><tr><td align="center">{{ other }}<br>{{ name }}, welcome</td></tr></table>
<pre>{{ name }}   {{ other }}</pre>
<a href="mailto:{{ other }}" title="{{ name }}">{{ name }}</a>
<ul>{% for c in other %}<li>{{ c }}</li>{% endfor %}</ul>
</body></html>"""


# Values in text alone, laid out by their lengths: centred and right-aligned cells in tables of
# two columns, values side by side and on lines of their own. Here the work is shared.
IN_TEXT = """<!DOCTYPE html><html><head><title>T</title>
<style>p:empty { display: none; } .c { text-align: center; }</style></head><body>
<p>Hello, {{ name }}! {{ name }}{{ other }}.</p><p>{{ other }}</p><p></p>
<table><tr><td class="c" align="center">{{ name }}</td><td>{{ other }}</td></tr>
<tr><td align="right">x</td><td align="center">{{ other }} {{ name }}</td></tr></table>
<table><tr><td align="center">{{ other }}<br>{{ name }}, welcome</td>
<td align="right">{{ name }}</td></tr></table>
<ul><li>{{ name }}</li><li>{{ other }}</li></ul><h1>{{ other }}</h1>
</body></html>"""


# A link's target may be marked too, unless a stylesheet selects on attributes.
LINKS = """<html><head><style>a { color: blue; } td { text-align: center; }</style></head>
<body><table><tr><td><a href="{{ link }}">{{ name }}</a></td><td>{{ link }}</td></tr></table>
<p><a href="https://example.com/{{ name }}">{{ link }}</a></p></body></html>"""
LINKS_SELECTED = LINKS.replace("a { color: blue; }", 'a[href$="1"] { color: red; }')


def make_type(root: Path, name: str, html: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_text("Hi {{ name }}")
    (folder / "body.html").write_text(html)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("types")
    make_type(root, "adversarial", ADVERSARIAL)
    make_type(root, "in_text", IN_TEXT)
    make_type(root, "links", LINKS)
    make_type(root, "links_selected", LINKS_SELECTED)
    return [root, BUNDLED_DIR]


@pytest.fixture(scope="module")
def shared(folders: list[Path]) -> Templates:
    return Templates(folders)


@pytest.fixture(scope="module")
def full(folders: list[Path]) -> Templates:
    return Templates(folders, share_rendering=False)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, other=NAMES, colour=st.sampled_from(["red", "blue", "A"]))
def test_an_adversarial_layout_renders_as_in_full(shared, full, name, other, colour):
    context = {"name": name, "other": other, "colour": colour}
    assert shared.render("adversarial", context) == full.render("adversarial", context)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, other=NAMES)
def test_values_laid_out_by_length_render_as_in_full(shared, full, name, other):
    context = {"name": name, "other": other}
    assert shared.render("in_text", context) == full.render("in_text", context)
    # Plain values of the lengths met before find their work done: that is the case tested.
    assert shared.shared.tally("in_text")[1] > 0 or shared.shared.tally("in_text")[0] < 50


def test_values_laid_out_by_length_did_share(folders, full):
    templates = Templates(folders)
    for name in ("Ann", "Bob", "Zoë", "李小龙 x", "Ann Lee", "Bo Chen"):
        context = {"name": name, "other": "Acme Ltd"}
        assert templates.render("in_text", context) == full.render("in_text", context)
    tried, found = templates.shared.tally("in_text")
    assert (tried, found) == (6, 3)  # filled by Ann, 李小龙 x, Ann Lee; found by the rest


LINK_TARGETS = st.one_of(
    NAMES,
    st.builds("https://example.com/t/{}".format, st.text(alphabet="abc19", max_size=12)),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, link=LINK_TARGETS, kind=st.sampled_from(["links", "links_selected"]))
def test_link_targets_render_as_in_full(shared, full, name, link, kind):
    context = {"name": name, "link": link}
    assert shared.render(kind, context) == full.render(kind, context)


def test_link_targets_are_shared_unless_a_selector_reads_them(folders, full):
    templates = Templates(folders)
    for kind in ("links", "links_selected"):
        for number in range(20):
            context = {"name": "Ann", "link": f"https://example.com/t/{number:04}"}
            assert templates.render(kind, context) == full.render(kind, context)
    assert templates.shared.tally("links") == (20, 19)
    # Each link is part of the key there, and every link differs.
    assert templates.shared.tally("links_selected")[1] == 0


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, app_name=NAMES)
def test_a_welcome_email_renders_as_in_full_whatever_the_names(shared, full, name, app_name):
    context = {**full.sample_context("welcome"), "name": name, "app_name": app_name}
    assert shared.render("welcome", context) == full.render("welcome", context)


def test_every_bundled_type_renders_as_in_full(shared, full):
    for name in full.names():
        for person in ("Ann", "User 1234", "Zoë", "Ann"):
            context = {**full.sample_context(name), "name": person}
            assert shared.render(name, context) == full.render(name, context), name


def test_welcome_emails_to_many_people_share_the_work(folders):
    templates = Templates(folders)
    context = templates.sample_context("welcome")
    for number in range(100):
        templates.render("welcome", {**context, "name": f"User {number}"})
    tried, found = templates.shared.tally("welcome")
    # One inlining and one text for each length of name (6 and 7), with the links and the
    # support address, which sit in attributes, kept as they are: the same for everyone.
    assert tried >= 99 and found >= tried - 3


def test_a_type_whose_renders_never_repeat_stops_trying(tmp_path):
    make_type(tmp_path, "unique", '<p><img src="{{ image }}" alt="">{{ name }}</p>')
    templates = Templates([tmp_path])
    for number in range(400):
        context = {"name": "Ann", "image": f"https://x.test/{number}"}
        assert f"https://x.test/{number}" in templates.render("unique", context).html
    tried, found = templates.shared.tally("unique")
    assert found < 0.2 * tried and tried < 400


def counted_renders(templates, name, monkeypatch) -> list[int]:
    """A list that grows by one at each render of type ``name``'s HTML template."""
    body = templates._html.get_template(f"{name}/body.html")
    renders: list[int] = []
    original = type(body).render

    def counted(template, *args, **kwargs):
        if template is body:
            renders.append(1)
        return original(template, *args, **kwargs)

    monkeypatch.setattr(type(body), "render", counted)
    return renders


def test_recipients_with_values_of_the_same_lengths_need_one_marked_render(folders, monkeypatch):
    templates = Templates(folders)
    context = templates.sample_context("welcome")
    renders = counted_renders(templates, "welcome", monkeypatch)
    for number in range(10, 100):  # names of one length: "User 10" to "User 99"
        templates.render("welcome", {**context, "name": f"User {number}"})

    # One marked render, and no recipient's own: welcome only prints its values as they are.
    assert len(renders) == 1


def test_a_type_that_does_more_with_a_value_still_renders_each_recipients_own(
    tmp_path, monkeypatch
):
    make_type(tmp_path, "shout", "<p>Hello {{ name }}!</p><p>{{ name | upper }}</p>")
    templates, full = Templates([tmp_path]), Templates([tmp_path], share_rendering=False)
    renders = counted_renders(templates, "shout", monkeypatch)
    for name in ("Ann", "Bob", "Cyd"):
        assert templates.render("shout", {"name": name}) == full.render("shout", {"name": name})
    # Each recipient's own render, and a marked one each time: it never comes out the same.
    assert len(renders) == 3 + 3


def test_a_kept_marked_render_that_no_longer_comes_out_the_same_is_not_used(tmp_path):
    make_type(tmp_path, "ticking", "<p>Hello {{ name }}, this is number {{ tick() }}.</p>")
    ticks = {"next": 0, "step": 1}

    def tick() -> int:  # a global whose value changes between renders
        ticks["next"] += ticks["step"]
        return ticks["next"]

    templates, full = Templates([tmp_path]), Templates([tmp_path], share_rendering=False)
    for environment in (templates._html, full._html):
        environment.globals["tick"] = tick
    for number in range(10, 40):
        html = templates.render("ticking", {"name": f"User {number}"}).html
        assert f"Hello User {number}, this is number" in html
    ticks["step"] = 0  # from now on every render comes out the same
    assert templates.render("ticking", {"name": "Ann"}) == full.render("ticking", {"name": "Ann"})
