"""The dashboard's own page templates (``mailer/web/templates``), always autoescaped.

Everything a page shows may come from outside (addresses, provider errors, template
contexts), so autoescaping is on for every file and nothing is marked safe: an email's HTML
reaches the page only as the escaped value of an iframe's ``srcdoc`` attribute.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from mailer.web.csrf import FIELD, TOKEN_KEY
from mailer.web.http import Request, Response

TEMPLATES_DIR = Path(__file__).parent / "templates"
#: The navigation every page carries, dramatiq-dashboard's raw view included.
NAV_LINKS = (
    ("/", "Overview"),
    ("/deliveries", "Deliveries"),
    ("/dead-letters", "Dead letters"),
    ("/schedules", "Schedules"),
    ("/suppressions", "Suppressions"),
    ("/events", "Events"),
    ("/queues", "Queues (raw)"),
    ("/metrics", "Metrics"),
)


def format_time(epoch_s: float | None) -> str:
    """UTC, to the second: operators compare these with provider logs, which are in UTC."""
    if epoch_s is None:
        return ""
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = format_time
    env.globals["csrf_field"] = FIELD
    env.globals["nav_links"] = NAV_LINKS
    return env


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render ``template`` with ``context``, the request and the form token."""
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            csrf_token=request.environ.get(TOKEN_KEY, ""),
            current_section=section_of(request.path),
            **context,
        )
    )
    return Response(status, html.encode())


def section_of(path: str) -> str:
    """The navigation entry ``path`` belongs under: the longest one it starts with."""
    found = [
        link for link, _ in NAV_LINKS if path == link or path.startswith(link.rstrip("/") + "/")
    ]
    return max(found, key=len, default="/")


def navigation(path: str) -> str:
    """The navigation bar alone, for pages mailer does not render itself."""
    return environment().get_template("_nav.html").render(current_section=section_of(path))
