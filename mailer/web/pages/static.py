"""``/static/<name>.js``: the dashboard's own scripts, from ``mailer/web/static``.

The only source the pages' policy lets a script come from (``script-src 'self'``); a name is
letters and underscores, so no path leaves the folder.
"""

from __future__ import annotations

from pathlib import Path

from mailer.web.http import Request, Response, text
from mailer.web.pages import Services

STATIC_DIR = Path(__file__).parents[1] / "static"


def script(request: Request, services: Services, name: str) -> Response:
    path = STATIC_DIR / name
    if not path.is_file():
        return text(404, "Not found.\n")
    return Response(200, path.read_bytes(), "text/javascript; charset=utf-8")
