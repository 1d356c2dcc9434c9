"""``mailer dashboard``: the operators' dashboard (``mailer.web.app``), served by waitress.

It refuses to start without ``MAILER_DASHBOARD_USER`` and ``MAILER_DASHBOARD_PASSWORD``.
``--unauthenticated-local`` serves it without them for one developer, and then only on the
loopback interface, so no other machine can reach an open dashboard.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mailer.cli.arguments import port_from_env, positive_int
from mailer.cli.serving import serve
from mailer.errors import ConfigurationError

LOOPBACK = "127.0.0.1"
DEFAULT_HOST = "0.0.0.0"
#: Each browser tab with a notification stream open holds a thread while it waits; the rest
#: of the dashboard needs a handful. Beyond this, run it under gunicorn with gevent workers.
DEFAULT_THREADS = 64
_LOOPBACK_NAMES = frozenset({LOOPBACK, "localhost", "::1"})


def _dashboard(args: argparse.Namespace) -> int:
    from mailer import settings
    from mailer.web.app import make_app

    host, port = bind_address(args)
    # Built before serving: a missing account stops the command here, not at the first request.
    app = make_app(settings.current(), allow_unauthenticated=args.unauthenticated_local)
    if args.unauthenticated_local:
        print(f"mailer: the dashboard is open to anyone on this machine ({host})", file=sys.stderr)
    return serve(app, host=host, port=port, threads=args.threads)


def bind_address(args: argparse.Namespace) -> tuple[str, int]:
    """Where to listen: ``--unauthenticated-local`` allows nothing but the loopback."""
    port = args.port if args.port is not None else port_from_env()
    if not args.unauthenticated_local:
        return args.host or DEFAULT_HOST, port
    if args.host not in (None, *_LOOPBACK_NAMES):
        raise ConfigurationError(
            "--host", f"--unauthenticated-local serves on {LOOPBACK} only, not {args.host}"
        )
    return LOOPBACK, port


def register(commands: Any) -> None:
    dashboard = commands.add_parser(
        "dashboard", help="serve the operators' dashboard (needs MAILER_DASHBOARD_USER)"
    )
    dashboard.add_argument("--host", help=f"default: {DEFAULT_HOST}")
    dashboard.add_argument("--port", type=int, help="default: $PORT, else 8000")
    dashboard.add_argument(
        "--unauthenticated-local",
        action="store_true",
        help=f"no login, for a developer's machine: serves on {LOOPBACK} only",
    )
    dashboard.add_argument(
        "--threads",
        type=positive_int,
        default=DEFAULT_THREADS,
        help=f"requests served at once; each open notification stream holds one "
        f"(default {DEFAULT_THREADS})",
    )
    dashboard.set_defaults(run=_dashboard)
