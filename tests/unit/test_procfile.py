"""The Procfile is how a Heroku-style platform runs mailer; its promises are tested here."""

import shlex
from pathlib import Path

from mailer.middleware.shutdown import SETTLE_MARGIN_S
from mailer.settings import Settings

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
PLATFORM_GRACE_MS = 30_000  # SIGTERM to SIGKILL on Heroku and its kind
#: Dramatiq's worker loop takes up to a second to notice the signal and begin the shutdown.
NOTICE_S = 1.0
SPARE_S = 5.0


def processes() -> dict[str, list[str]]:
    entries = (line.split(":", 1) for line in PROCFILE.read_text().splitlines() if line.strip())
    return {name.strip(): shlex.split(command) for name, command in entries}


def test_web_serves_the_dashboard_on_the_platforms_port():
    assert processes()["web"] == ["mailer", "dashboard", "--port", "$PORT"]


def test_worker_is_the_stock_command_and_stops_within_the_platforms_grace():
    worker = processes()["worker"]
    assert worker[:2] == ["dramatiq", "mailer.actors"]
    timeout_ms = int(worker[worker.index("--worker-shutdown-timeout") + 1])
    # A provider call under way at the deadline is given the rest of its own deadline.
    longest_s = NOTICE_S + timeout_ms / 1000 + Settings.send_deadline_s + SETTLE_MARGIN_S
    assert longest_s <= PLATFORM_GRACE_MS / 1000 - SPARE_S


def test_scheduler_is_the_stock_periodiq_command():
    # Safe to scale past one: each tick runs once and each schedule entry is claimed once.
    assert processes()["scheduler"] == ["periodiq", "mailer.actors"]
