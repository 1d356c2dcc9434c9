"""The baseline of ``bench.throughput``: what a user writes without mailer, and Dramatiq's
no-op ceiling.

``send_by_hand`` is one ``@dramatiq.actor`` that renders the same Jinja template mailer
ships, inlines its CSS with css-inline, builds an ``email.message.EmailMessage`` and sends it
over a ``smtplib.SMTP`` connection each worker thread opens once and reuses. A type with a
``body.txt`` gets it as its text part; one without goes as HTML alone, since deriving text
is work a user seldom writes by hand (mailer does it: see docs/performance.md). A
non-transactional type gets a ``List-Unsubscribe`` header, as mailbox providers require.

``noop`` does nothing: a worker draining it measures Dramatiq and Redis alone.

    REDIS_URL=... SMTP_PORT=... dramatiq bench.handwritten --processes 2 --threads 8
"""

from __future__ import annotations

import os
import smtplib
import threading
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import css_inline
import dramatiq
import jinja2
from dramatiq.brokers.redis import RedisBroker

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
QUEUE = "handwritten"
SENDER = os.environ.get("MAILER_FROM", "Bench <bench@example.com>")

dramatiq.set_broker(RedisBroker(url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")))
_jinja = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
_text = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False)
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_local = threading.local()


def _smtp() -> smtplib.SMTP:
    connection: smtplib.SMTP | None = getattr(_local, "smtp", None)
    if connection is None:
        host, port = os.environ.get("SMTP_HOST", "127.0.0.1"), int(os.environ["SMTP_PORT"])
        connection = _local.smtp = smtplib.SMTP(host, port, timeout=30)
    return connection


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def send_by_hand(to: str, template: str, context: dict[str, Any]) -> None:
    html = _inliner.inline(_jinja.get_template(f"{template}/body.html").render(context))
    subject = _text.get_template(f"{template}/subject.txt").render(context).strip()
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    if "unsubscribe_url" in context:
        message["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if (TEMPLATES / template / "body.txt").is_file():
        message.set_content(_text.get_template(f"{template}/body.txt").render(context))
        message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    _smtp().send_message(message)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def noop(to: str, template: str, context: dict[str, Any]) -> None:
    return None
