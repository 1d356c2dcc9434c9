"""Serving a WSGI app with waitress for ``mailer dashboard`` and ``mailer web``: an address
that cannot be listened on (the port taken, a host not on this machine) is one line and exit
status 2, not the socket's traceback."""

from __future__ import annotations

import errno
import logging
import sys

from mailer.web.http import WSGIApp

#: The exit status of a command given something it cannot use, as argparse exits.
CANNOT_LISTEN = 2


def serve(app: WSGIApp, *, host: str, port: int, threads: int) -> int:
    import waitress

    try:
        server = waitress.create_server(app, host=host, port=port, threads=threads)
    except OSError as err:
        reason = err.strerror or str(err)
        if err.errno == errno.EADDRINUSE:
            reason += "; stop what holds it, or pass another --port"
        print(f"mailer: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return CANNOT_LISTEN
    # INFO, so the platform's log shows waitress's "Serving on ..." line.
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    server.print_listen("Serving on http://{}:{}")
    server.run()
    return 0
