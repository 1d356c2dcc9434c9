"""The Procfile is how a Heroku-style platform runs mailer; its promises are tested here."""

import shlex
from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
PLATFORM_GRACE_MS = 30_000  # SIGTERM to SIGKILL on Heroku and its kind


def processes() -> dict[str, list[str]]:
    entries = (line.split(":", 1) for line in PROCFILE.read_text().splitlines() if line.strip())
    return {name.strip(): shlex.split(command) for name, command in entries}


def test_web_serves_the_dashboard_on_the_platforms_port():
    assert processes()["web"] == ["mailer", "dashboard", "--port", "$PORT"]


def test_worker_is_the_stock_command_and_stops_within_the_platforms_grace():
    worker = processes()["worker"]
    assert worker[:2] == ["dramatiq", "mailer.actors"]
    timeout_ms = int(worker[worker.index("--worker-shutdown-timeout") + 1])
    assert timeout_ms < PLATFORM_GRACE_MS


def test_scheduler_is_the_stock_periodiq_command():
    # Safe to scale past one: each tick runs once and each schedule entry is claimed once.
    assert processes()["scheduler"] == ["periodiq", "mailer.actors"]
