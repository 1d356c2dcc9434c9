"""The command line's rough edges as a user meets them, in real processes: output cut short by
``head`` ends quietly, a busy port and a bad setting are one line, and a search that finds
nothing says so."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from mailer import send_email
from mailer.middleware.log_deliveries import flush_queued
from tests.support.commands import assert_refused, mailer
from tests.support.worker import REPO_ROOT

pytestmark = pytest.mark.integration


def cut_short(*args: str) -> subprocess.CompletedProcess[str]:
    """``mailer ARGS | head -0``: the reader is gone before the command writes a byte."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "mailer.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    return subprocess.CompletedProcess(args, process.wait(timeout=60), "", stderr)


@pytest.fixture
def logged_message_id(redis_url: str) -> str:
    """A message in the suite's delivery log, as a web process's ``send_email`` leaves it."""
    message_id = send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    assert flush_queued(10.0)
    return message_id


def test_types_into_a_closed_pipe_ends_quietly():
    done = cut_short("types")
    assert done.stderr == ""
    assert done.returncode == 141


def test_log_of_one_message_into_a_closed_pipe_ends_quietly(logged_message_id):
    done = cut_short("log", logged_message_id)
    assert done.stderr == ""
    assert done.returncode == 141


def test_log_of_an_unknown_message_says_nothing_matched():
    result = mailer("log", "0f9e8d7c-unknown")
    assert_refused(result, 1, "no message 0f9e8d7c-unknown in the delivery log")
    assert result.stdout == ""


def test_log_of_an_address_with_no_email_says_nothing_matched():
    result = mailer("log", "--to", "nobody@example.com", "--hours", "2")
    assert_refused(
        result, 1, "no email in the delivery log matches --to nobody@example.com --hours 2"
    )


def test_a_busy_port_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = mailer("dashboard", "--unauthenticated-local", "--port", str(port))
    assert_refused(
        result,
        2,
        f"cannot listen on 127.0.0.1:{port}: Address already in use; "
        "stop what holds it, or pass another --port",
    )
    assert [line for line in result.stderr.splitlines() if "cannot listen" in line] == [
        result.stderr.splitlines()[-1]
    ]


def test_a_bad_setting_is_one_line_at_the_command_line():
    result = mailer("types", env={"MAILER_ADMIN_EMAILS": "ops@acme.test"})
    assert_refused(result, 2, "MAILER_ADMIN_EMAILS: 'ops@acme.test' is not a valid address")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "MAILER_RATE_LIMIT",
            "-3",
            "mailer: MAILER_RATE_LIMIT: must be a whole number of at least 1, not -3; "
            "leave it unset for none",
        ),
        # Loaded once the worker has booted: Dramatiq would log this one and run on without
        # the app's subscribers.
        (
            "MAILER_EVENT_MODULES",
            "no_such_module",
            "mailer: MAILER_EVENT_MODULES: cannot import no_such_module: "
            "No module named 'no_such_module'",
        ),
    ],
)
def test_a_bad_setting_is_one_line_when_the_worker_starts(variable, value, line):
    env = {**os.environ, variable: value, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "dramatiq", "mailer.actors", "--processes", "1", "--threads", "1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output, output
    assert [each for each in output.splitlines() if each.startswith("mailer: ")] == [line]


def test_importing_mailer_reads_no_setting():
    """The app's ``from mailer import send_email`` works whatever the environment; the setting
    is refused, naming the variable, at the first call that needs it."""
    code = (
        "from mailer import send_email, ConfigurationError\n"
        "try:\n"
        "    send_email('welcome', to='ann@example.com', context={'name': 'Ann'})\n"
        "except ConfigurationError as err:\n"
        "    print(err)\n"
    )
    env = {**os.environ, "MAILER_ADMIN_EMAILS": "ops@acme.test", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MAILER_ADMIN_EMAILS: 'ops@acme.test' is not a valid address")
