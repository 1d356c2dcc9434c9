"""``/unsubscribe/<token>``: the target of every email's one-click unsubscribe link.

``POST`` unsubscribes at once: that is RFC 8058's one-click request, which a mailbox
provider sends with the body ``List-Unsubscribe=One-Click`` and no cookies, and also what the
confirmation page's button sends. ``GET`` only shows that page: mail scanners and link
previews follow every link in an email, and a visit must not unsubscribe anyone.

The token is the only credential, so the endpoint sits outside the dashboard's login and
its CSRF check; a forged or altered token is refused with 400 and changes nothing. The
address is shown masked, in case the link was forwarded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from mailer import stores
from mailer.errors import InvalidToken
from mailer.settings import Settings
from mailer.web.http import Environ, Request, Response, StartResponse, WSGIApp, text
from mailer.web.render import environment
from mailer.worker.unsubscribe_links import PATH_PREFIX, address_of

logger = logging.getLogger(__name__)

_TOKEN = re.compile(re.escape(PATH_PREFIX) + r"(?P<token>[A-Za-z0-9_.-]{1,1000})/?\Z")


def app_for(settings: Settings) -> WSGIApp:
    def unsubscribe(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return respond(settings, Request(environ))(environ, start_response)

    return unsubscribe


def respond(settings: Settings, request: Request) -> Response:
    match = _TOKEN.match(request.path)
    if match is None:
        return _page(400, "Unsubscribe link not valid", "invalid")
    if request.method not in ("GET", "HEAD", "POST"):
        refusal = text(405, "Method not allowed.\n")
        refusal.headers.append(("Allow", "GET, POST"))
        return refusal
    try:
        address = address_of(settings, match["token"])
    except InvalidToken as err:
        logger.warning("Refused an unsubscribe link: %s.", err)
        return _page(400, "Unsubscribe link not valid", "invalid")
    if request.method != "POST":
        return _page(200, "Unsubscribe", "confirm", _masked(address))
    if stores.for_settings(settings).suppression.add([address], "unsubscribed"):
        logger.info("Unsubscribed %s.", _masked(address))
    return _page(200, "You are unsubscribed", "done", _masked(address))


def _page(status: int, heading: str, state: str, address: str = "") -> Response:
    template = environment().get_template("unsubscribe.html")
    html = template.render(heading=heading, state=state, address=address)
    return Response(status, html.encode())


def _masked(address: str) -> str:
    """``ann@example.com`` as ``a**@example.com``: enough to recognise, little to harvest."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 1)}@{domain}"
