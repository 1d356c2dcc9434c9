"""One-click unsubscribe (RFC 8058): the link every non-transactional email carries.

Gmail and Yahoo require bulk senders to offer it, and a mailbox provider shows it as an
"Unsubscribe" button beside the sender's name. The email carries::

    List-Unsubscribe: <https://app.example/unsubscribe/TOKEN>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

and the provider POSTs ``List-Unsubscribe=One-Click`` to that URL, with no cookies and no
page in between. The token is the recipient's address signed under ``MAILER_SECRET_KEY``,
so the endpoint (``mailer.web.unsubscribe``) needs no database of issued links and a forged
or altered link is refused. The same URL is given to templates as ``unsubscribe_url``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailer.envelope import Email
from mailer.errors import ConfigurationError, InvalidToken
from mailer.settings import Settings
from mailer.signing import signer_for
from mailer.stores.suppression import normalise

PURPOSE = "unsubscribe"
PATH_PREFIX = "/unsubscribe/"


def unsubscribe_url(settings: Settings, address: str) -> str | None:
    """The link for ``address``; None until ``MAILER_PUBLIC_URL`` and the secret are set."""
    if not (settings.public_url and settings.secret_key):
        return None
    token = signer_for(settings, PURPOSE).sign(normalise(address))
    return f"{settings.public_url}{PATH_PREFIX}{token}"


def missing_for_links(settings: Settings) -> list[str]:
    """The variables an unsubscribe link still needs; empty when links can be made."""
    wanted = [
        ("MAILER_PUBLIC_URL", settings.public_url),
        ("MAILER_SECRET_KEY", settings.secret_key),
    ]
    return [variable for variable, value in wanted if not value]


def require_links(settings: Settings, types: list[str]) -> None:
    """Refuse news that would go out without its link: ``ConfigurationError`` naming what
    is missing, in one line."""
    missing = missing_for_links(settings)
    if types and missing:
        raise ConfigurationError(
            " and ".join(missing),
            f"required to send {', '.join(types)}: every non-transactional email carries a "
            "one-click unsubscribe link, built from MAILER_PUBLIC_URL and MAILER_SECRET_KEY",
        )


def list_headers(url: str, mailto: str | None = None) -> dict[str, str]:
    """RFC 8058's pair; with ``MAILER_UNSUBSCRIBE_MAILTO`` the link's token also rides in a
    ``mailto:`` for clients that unsubscribe by email (RFC 2369)."""
    links = f"<{url}>"
    if mailto:
        token = url.rpartition("/")[2]
        links += f", <mailto:{mailto}?subject=unsubscribe%20{token}>"
    return {"List-Unsubscribe": links, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def address_of(settings: Settings, token: str) -> str:
    """The address a link was made for; ``InvalidToken`` for a forged or altered one."""
    if not token or len(token) > 1_000:
        raise InvalidToken("the link is incomplete")
    return signer_for(settings, PURPOSE).unsign(token)


def add_unsubscribe_link(
    settings: Settings, email: Email, context: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Give news its link: the ``List-Unsubscribe`` headers (an app's own header wins) and
    ``unsubscribe_url`` in the template's context."""
    url = unsubscribe_url(settings, email.to[0])
    if url is None:
        return context
    if not any(name.lower() == "list-unsubscribe" for name in email.headers):
        email.headers.update(list_headers(url, settings.unsubscribe_mailto))
    return {"unsubscribe_url": url, **context}
