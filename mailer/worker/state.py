"""The one record of what each worker thread is sending, and the process's list of them.

A send's steps (``mailer.worker.send``) write here what later steps and the middleware need:
the claim that keeps other workers off the message, the backend chosen, whether the provider
call is under way. The shutdown hand-back reads every thread's record at the deadline, and a
thread whose message was handed back finds out here before it calls the provider.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dramatiq.middleware import SkipMessage


@dataclass
class Send:
    """One email message being sent by this thread."""

    message_id: str
    template: str
    started_s: float = field(default_factory=time.monotonic)
    claim: str | None = None  # the claim's token while this thread holds it
    backend: str | None = None
    in_provider_call: bool = False
    called_s: float | None = None  # when its provider call began: the provider may have it
    handed_back: bool = False  # at the shutdown deadline: another worker will send it


_local = threading.local()
_lock = threading.Lock()
_running: dict[int, Send] = {}  # by thread


def start(message_id: str, template: str) -> Send:
    """This thread begins sending ``message_id``; whatever it sent before is forgotten."""
    send = Send(message_id, template)
    _local.send = send
    with _lock:
        _running[threading.get_ident()] = send
    return send


def current() -> Send | None:
    """This thread's send, if it is sending one."""
    send: Send | None = getattr(_local, "send", None)
    return send


def finish() -> None:
    """This thread is done with its send, however it ended."""
    _local.send = None
    with _lock:
        _running.pop(threading.get_ident(), None)


def hand_back_all() -> list[Send]:
    """At the shutdown deadline: every send under way, each now barred from its provider call.

    Nothing enters a provider call while this runs, so each record's ``in_provider_call``
    says whether the provider may already have the email.
    """
    with _lock:
        running = list(_running.values())
        for send in running:
            send.handed_back = True
    return running


@contextlib.contextmanager
def provider_call(send: Send) -> Iterator[None]:
    """Wrap the one call that hands an email to its provider.

    A send handed back at the shutdown deadline does not make the call, since another worker
    is to send it: ``SkipMessage`` ends the delivery without a retry or a dead letter.
    """
    with _lock:
        if send.handed_back:
            raise SkipMessage("handed back at the shutdown deadline")
        send.in_provider_call = True
        send.called_s = time.monotonic()
    try:
        yield
    finally:
        with _lock:
            send.in_provider_call = False


def thread_backends() -> dict[str, Any]:
    """This thread's open backends by name, kept between its sends (``mailer.worker.send``)."""
    backends: dict[str, Any] | None = getattr(_local, "backends", None)
    if backends is None:
        backends = _local.backends = {}
    return backends
