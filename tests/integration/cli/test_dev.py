"""``mailer dev`` as a user runs it: a real process, a fresh folder, and often no Redis at all.

The command promises that it needs nothing but Python, that every shipped email type lands in
``./outbox`` as an ``.eml``, and that Ctrl-C (or the SIGTERM a supervisor sends) leaves nothing
running. Each test checks one of those promises from outside the process.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailer.actors.emails import EMAIL_TYPES
from mailer.embedded_redis import free_port
from mailer.templates import BUNDLED_DIR, Templates
from tests.support.worker import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration

READY_LINE = "Press Ctrl-C to stop."
#: A delivered sample as listed: its email type, then its file.
LISTED = r"^  \w+ +(\S+\.eml)$"
EMBEDDED = re.compile(r"Started an embedded Redis on redis://127\.0\.0\.1:(\d+)/0\.")
# Variables that would steer the run away from a fresh machine's defaults.
_NOT_ON_A_FRESH_MACHINE = ("REDIS_URL", "MAILER_OUTBOX_DIR", "MAILER_TEMPLATES_DIR")


def dev_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_ON_A_FRESH_MACHINE}
    # The suite's MAILER_BACKEND=memory stays: dev must ignore it and write files anyway.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return {**env, **overrides}


class DevProcess:
    """``python -m mailer.cli dev`` in ``cwd``, its output collected as it arrives."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailer.cli", "dev", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for_ready(self, timeout_s: float = 30.0) -> None:
        ready = wait_until(
            lambda: READY_LINE in self.output or self.process.poll() is not None, timeout_s
        )
        assert ready and READY_LINE in self.output, self.output

    def finish(self, timeout_s: float = 60.0) -> int:
        """Wait for the exit, then for the last of the output."""
        code = self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code

    def children(self) -> list[int]:
        """Pids of the processes it started, whichever thread started them (Linux /proc)."""
        tasks = Path(f"/proc/{self.process.pid}/task")
        return [int(pid) for task in tasks.iterdir() for pid in _children_of(task)]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.finish()


def _children_of(task: Path) -> list[str]:
    try:
        return (task / "children").read_text().split()
    except FileNotFoundError:  # the thread ended between listing and reading
        return []


@pytest.fixture
def start_dev(tmp_path: Path) -> Iterator[Callable[..., DevProcess]]:
    started: list[DevProcess] = []

    def start(*args: str, **env: str) -> DevProcess:
        dev = DevProcess(tmp_path, dev_env(**env), *args)
        started.append(dev)
        return dev

    yield start
    for dev in started:
        dev.kill()


def embedded_port(output: str) -> int:
    found = EMBEDDED.search(output)
    assert found, output
    return int(found.group(1))


def port_is_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def process_is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # exited, waiting only for its new parent to reap it


def expected_subjects() -> dict[str, str]:
    templates = Templates([BUNDLED_DIR])
    return {
        name: templates.render(name, templates.sample_context(name)).subject
        for name in templates.names()
    }


def assert_clean(output: str) -> None:
    assert "Traceback" not in output, output
    assert "Error" not in output, output


def test_once_on_a_machine_without_redis_delivers_every_shipped_type(start_dev, tmp_path):
    dev = start_dev("--once")
    code = dev.finish()
    assert code == 0, dev.output
    assert_clean(dev.output)
    embedded_port(dev.output)  # it said which Redis it started
    subjects = expected_subjects()
    assert sorted(subjects) == sorted(EMAIL_TYPES)  # every declared type ships a template
    delivered = {}
    for path in sorted((tmp_path / "outbox").glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert parsed["From"] and parsed["To"], path
        html, text = parsed.get_body(("html",)), parsed.get_body(("plain",))
        assert html is not None and html.get_content().strip(), path
        assert text is not None and text.get_content().strip(), path
        delivered[parsed["Subject"]] = path
    assert sorted(delivered) == sorted(subjects.values())
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == len(subjects)
    # Each file listed with its type, the type the file really holds.
    by_subject = {subject: name for name, subject in subjects.items()}
    listed = dict(re.findall(r"^  (\w+) +(\S+\.eml)$", dev.output, flags=re.MULTILINE))
    assert sorted(listed) == sorted(subjects)
    for name, path in listed.items():
        parsed = email.message_from_bytes(
            (tmp_path / path).read_bytes(), policy=email.policy.default
        )
        assert by_subject[parsed["Subject"]] == name


@pytest.mark.skipif(sys.platform != "linux", reason="finds child processes through /proc")
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_ends_the_worker_and_the_embedded_redis(start_dev, stop_signal):
    dev = start_dev()
    dev.wait_for_ready()
    port = embedded_port(dev.output)
    [redis_pid] = dev.children()
    assert str(port) in Path(f"/proc/{redis_pid}/cmdline").read_text()
    dev.process.send_signal(stop_signal)
    assert dev.finish(timeout_s=10) == 0, dev.output
    assert dev.output.rstrip().endswith("Stopped."), dev.output
    assert_clean(dev.output)
    assert process_is_gone(redis_pid)
    assert not port_is_open(port)


@pytest.mark.skipif(sys.platform != "linux", reason="finds child processes through /proc")
def test_a_killed_dev_run_leaves_no_redis_behind(start_dev):
    dev = start_dev()
    dev.wait_for_ready()
    port = embedded_port(dev.output)
    [redis_pid] = dev.children()
    dev.kill()  # SIGKILL: no handler runs, only the kernel's parent-death signal
    assert wait_until(lambda: process_is_gone(redis_pid), timeout_s=10)
    assert not port_is_open(port)


@pytest.mark.skipif(sys.platform != "linux", reason="finds child processes through /proc")
def test_a_reachable_redis_url_is_used_and_no_server_started(start_dev, redis_url, tmp_path):
    dev = start_dev(REDIS_URL=redis_url)
    dev.wait_for_ready()
    assert f"Using the Redis at {redis_url}." in dev.output
    assert "embedded" not in dev.output
    assert dev.children() == []
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == len(EMAIL_TYPES)
    dev.process.send_signal(signal.SIGINT)
    assert dev.finish(timeout_s=10) == 0, dev.output
    assert_clean(dev.output)


def test_an_unreachable_redis_url_falls_back_without_showing_its_password(start_dev):
    closed = free_port()
    dev = start_dev("--once", REDIS_URL=f"redis://:s3cret@127.0.0.1:{closed}/0")
    assert dev.finish() == 0, dev.output
    assert f"Nothing answers at REDIS_URL=redis://:***@127.0.0.1:{closed}/0." in dev.output
    assert embedded_port(dev.output) != closed
    assert "s3cret" not in dev.output
    assert_clean(dev.output)


def test_a_second_run_reports_only_its_own_emails(start_dev, tmp_path):
    """The outbox keeps earlier runs' files; each run counts and lists only the new ones."""
    first = start_dev("--once")
    assert first.finish() == 0, first.output
    second = start_dev("--once")
    assert second.finish() == 0, second.output
    assert f"Delivered {len(EMAIL_TYPES)} sample emails" in second.output
    listed = re.findall(LISTED, second.output, flags=re.MULTILINE)
    assert len(listed) == len(EMAIL_TYPES)
    assert not set(listed) & set(re.findall(LISTED, first.output, flags=re.MULTILINE))
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2 * len(EMAIL_TYPES)
