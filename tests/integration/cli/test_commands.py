"""The ``mailer`` command run as a process: exit codes, what it prints, what it leaves behind.

Exit status 0 is success, 2 is input or configuration the user must fix (the message names
the argument or variable), 1 is an operational failure such as an unreachable Redis. None of
them may end in a traceback.
"""

from __future__ import annotations

import json
import re

import pytest
import redis

from mailer.actors.emails import EMAIL_TYPES
from mailer.embedded_redis import free_port
from mailer.errors import MissingContext
from mailer.priorities import LEVELS
from mailer.templates import BUNDLED_DIR, Templates
from tests.support.commands import assert_refused, mailer
from tests.support.worker import wait_until

pytestmark = pytest.mark.integration

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
WELCOME = json.dumps({"name": "Ann"})


def queued(redis_url: str) -> dict[str, dict[str, dict[str, object]]]:
    """Every message waiting in mailer's queues, by level name, then message id.

    The Redis broker files a message under an id of its own (``redis_message_id``), so the
    id ``send_email`` returns is read from the stored message.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        found: dict[str, dict[str, dict[str, object]]] = {}
        for level in LEVELS.values():
            stored = client.hvals(f"dramatiq:{level.queue_name}.msgs")
            found[level.name] = {m["message_id"]: m for m in map(json.loads, stored)}
        return found
    finally:
        client.close()


# --- mailer types ---------------------------------------------------------------------------


def test_types_lists_every_shipped_type_with_its_priority():
    result = mailer("types")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert listed == {name: declared.priority.name for name, declared in EMAIL_TYPES.items()}
    assert sorted(listed) == Templates([BUNDLED_DIR]).names()
    assert listed["password_reset"] == "critical" and listed["new_post"] == "low"
    [welcome] = [line for line in result.stdout.splitlines() if line.startswith("welcome ")]
    assert welcome.split()[2:] == ["name"]  # the variables a caller must pass


def test_a_malformed_port_variable_does_not_break_other_commands():
    """PORT belongs to ``mailer web`` alone; a platform's odd value must not stop the rest."""
    assert mailer("types", env={"PORT": "not-a-port"}).returncode == 0


# --- mailer preview -------------------------------------------------------------------------


def test_preview_writes_html_and_text_from_the_given_context(tmp_path):
    out = tmp_path / "out"
    result = mailer("preview", "welcome", "--context", '{"name": "<Zoë>"}', "--out", str(out))
    assert result.returncode == 0, result.stderr
    html, text = out / "welcome.html", out / "welcome.txt"
    assert result.stdout.split() == [str(html), str(text)]
    assert "&lt;Zoë&gt;" in html.read_text("utf-8")  # escaped in HTML, as in a real send
    subject, blank, *body = text.read_text("utf-8").splitlines()
    assert subject.startswith("Subject: ") and "<Zoë>" in subject
    assert blank == ""
    assert "<Zoë>" in "\n".join(body)


@pytest.mark.parametrize("name", sorted(EMAIL_TYPES))
def test_preview_without_context_renders_the_sample(name, tmp_path):
    result = mailer("preview", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    templates = Templates([BUNDLED_DIR])
    rendered = templates.render(name, templates.sample_context(name))
    assert (tmp_path / "preview" / f"{name}.html").read_text("utf-8") == rendered.html
    text = (tmp_path / "preview" / f"{name}.txt").read_text("utf-8")
    assert text == f"Subject: {rendered.subject}\n\n{rendered.text}\n"


@pytest.mark.parametrize(
    ("context", "problem"),
    [("{'name': 'Ann'}", "--context: not valid JSON"), ('["Ann"]', "--context: must be a JSON")],
    ids=["not-json", "not-an-object"],
)
def test_preview_refuses_a_context_that_is_not_a_json_object(context, problem, tmp_path):
    result = mailer("preview", "welcome", "--context", context, "--out", str(tmp_path))
    assert_refused(result, 2, problem)
    assert list(tmp_path.iterdir()) == []


def test_preview_names_the_missing_variable(tmp_path):
    result = mailer("preview", "welcome", "--context", "{}", "--out", str(tmp_path))
    assert_refused(result, 2, f"mailer: {MissingContext('welcome', ['name'])}\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["no_such_type", "../welcome"])
def test_preview_refuses_an_unknown_type(name, tmp_path):
    result = mailer("preview", name, "--out", str(tmp_path / "out"))
    assert_refused(result, 2, repr(name))
    assert not (tmp_path / "out").exists()


# --- mailer send ----------------------------------------------------------------------------


def test_send_queues_on_the_types_level_and_prints_the_message_id(redis_url):
    result = mailer("send", "welcome", "--to", "Ann <ann@example.com>", "--context", WELCOME)
    assert result.returncode == 0, result.stderr
    message_id = result.stdout.strip()
    assert UUID.fullmatch(message_id), result.stdout
    waiting = queued(redis_url)
    assert list(waiting["high"]) == [message_id]
    assert sum(map(len, waiting.values())) == 1
    message = waiting["high"][message_id]
    assert message["actor_name"] == "send_welcome"
    envelope, context = message["args"]
    assert envelope["to"] == ["Ann <ann@example.com>"]
    assert context == {"name": "Ann"}


def test_send_priority_option_moves_the_message_to_that_level(redis_url):
    result = mailer(
        "send", "welcome", "--to", "ann@example.com", "--context", WELCOME, "--priority", "low"
    )
    assert result.returncode == 0, result.stderr
    assert list(queued(redis_url)["low"]) == [result.stdout.strip()]


def test_send_is_delivered_by_a_real_worker(start_worker, tmp_path):
    start_worker({"MAILER_BACKEND": "file", "MAILER_OUTBOX_DIR": str(tmp_path)})
    result = mailer(
        "send",
        "welcome",
        "--to",
        "ann@example.com",
        "--to",
        "bob@example.com",
        "--context",
        WELCOME,
    )
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: len(list(tmp_path.glob("*.eml"))) == 1)
    [path] = tmp_path.glob("*.eml")
    eml = path.read_text("utf-8")
    assert f"Message-ID: <{result.stdout.strip()}@" in eml
    assert "To: ann@example.com, bob@example.com" in eml


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--to", "not an address"], "mailer: to: 'not an address' is not a valid address"),
        (["--to", "ann@example.com", "--context", "{}"], "needs name"),
        (["--to", "ann@example.com", "--context", "nope"], "--context: not valid JSON"),
    ],
    ids=["bad-address", "missing-variable", "bad-json"],
)
def test_send_refuses_bad_input_and_queues_nothing(args, problem, redis_url):
    context = [] if "--context" in args else ["--context", WELCOME]
    assert_refused(mailer("send", "welcome", *args, *context), 2, problem)
    assert queued(redis_url) == {name: {} for name in LEVELS}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MAILER_BACKEND": "smtp", "MAILER_FROM": None}, "MAILER_FROM"),
        ({"MAILER_BACKEND": "no-such-backend"}, "MAILER_BACKEND"),
        ({"SMTP_PORT": "submission"}, "SMTP_PORT"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
    ],
    ids=["smtp-without-from", "unknown-backend", "bad-smtp-port", "bad-redis-url"],
)
def test_a_settings_error_at_startup_names_the_variable(env, variable):
    """Settings are checked while ``mailer.actors`` is imported: the error must still come
    out as one line naming the variable, not as a traceback."""
    result = mailer("send", "welcome", "--to", "ann@example.com", "--context", WELCOME, env=env)
    assert_refused(result, 2, f"mailer: {variable}: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_send_reports_an_unreachable_redis_without_its_password():
    closed = free_port()
    url = f"redis://:s3cret@127.0.0.1:{closed}/0"
    result = mailer(
        "send", "welcome", "--to", "ann@example.com", "--context", WELCOME, env={"REDIS_URL": url}
    )
    assert_refused(result, 1, "could not queue the email", "ConnectionError", str(closed))
    assert "s3cret" not in result.stderr
    assert result.stdout == ""
