"""``mailer web``: the web endpoints (health) served by waitress, for a platform's web process."""

from __future__ import annotations

import argparse
from typing import Any

from mailer.cli.arguments import port_from_env
from mailer.cli.serving import serve


def register(commands: Any) -> None:
    web = commands.add_parser("web", help="serve the web endpoints (health) with waitress")
    web.add_argument("--host", default="0.0.0.0")
    web.add_argument("--port", type=int, help="default: $PORT, else 8000")
    web.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mailer import settings
    from mailer.web.health import app

    port = args.port if args.port is not None else port_from_env()
    # A misconfigured process fails here, once, not as a 500 on every request.
    settings.current()
    return serve(app, host=args.host, port=port, threads=4)
