"""The operators' dashboard: one authenticated WSGI app (``gunicorn mailer.web.app:app``).

::

    /healthz          the platform's health check, open (mailer.web.health)
    /unsubscribe/...  one-click unsubscribe links, open: the signed link is the credential
    /notifications/stream   a user's notifications, live (Server-Sent Events), for the app's
                      pages; open, with the signed per-user token the app issued
    /webhooks/ses, /webhooks/sendgrid   the providers' events, open: the provider's signature
                      is the credential (mailer.web.webhooks)
    /notifications/...      the same user's notifications as JSON: a page, the unread count,
                      mark one or all read (mailer.web.notification_api); the same token
    /                 charts of the last hour and week, queue depths, live workers, failing types
    /live             the overview's charts, depths and workers alone, re-fetched by the page
    /deliveries       the delivery log, searched; /deliveries/<id>: one message in full
    /dead-letters     dead letters by queue, type, error or recipient; requeue or delete them
    /schedules        scheduled emails, filtered; cancel one
    /suppressions     the suppression list, searched; add, or remove with a reason
    /events           recent events and each subscriber's outcome
    /queues/...       dramatiq-dashboard's raw view, under mailer's navigation
    /metrics          Prometheus text (mailer.web.metrics)

Everything else needs the Basic-auth account ``MAILER_DASHBOARD_USER`` /
``MAILER_DASHBOARD_PASSWORD``; without one the dashboard refuses to start, unless told it is
serving one developer's machine (``mailer dashboard --unauthenticated-local``).
"""

from __future__ import annotations

from collections.abc import Iterable

from dramatiq_dashboard import DashboardApp

from mailer import stores, templates
from mailer.errors import ConfigurationError
from mailer.settings import Settings
from mailer.stores.dead_letters import DeadLetters
from mailer.web import health, notification_api, unsubscribe, webhooks
from mailer.web import notification_stream as notifications
from mailer.web.auth import BasicAuth
from mailer.web.built_on_first_request import BuiltOnFirstRequest
from mailer.web.csrf import CSRFGuard
from mailer.web.headers import with_security_headers
from mailer.web.http import Environ, StartResponse, WSGIApp, text
from mailer.web.pages import Services
from mailer.web.raw_queues import with_navigation
from mailer.web.router import Router
from mailer.web.stored_messages import MessageFinder

__all__ = ["app", "make_app"]

QUEUES_PREFIX = "/queues"
HEALTH_PATH = "/healthz"
UNSUBSCRIBE_PREFIX = "/unsubscribe/"


def make_app(settings: Settings, *, allow_unauthenticated: bool = False) -> WSGIApp:
    """The dashboard on ``settings``; ``ConfigurationError`` if it has no account to ask for,
    unless ``allow_unauthenticated`` (for a server bound to the loopback interface only).

    The actors are declared here, not at import, so that every queue is known to the pages
    while importing the module (a server's preload) builds no broker.
    """
    from mailer.actors import broker

    credentials = _credentials(settings, allow_unauthenticated)
    bundle = stores.for_settings(settings)
    log = bundle.delivery_log
    dead_letters = DeadLetters(broker, log=log)
    services = Services(
        settings=settings,
        broker=broker,
        log=log,
        dead_letters=dead_letters,
        finder=MessageFinder(broker, dead_letters),
        templates=templates.for_settings(settings),
        stores=bundle,
    )
    mounts = {
        QUEUES_PREFIX: with_navigation(DashboardApp(broker, prefix=QUEUES_PREFIX), QUEUES_PREFIX),
        "/metrics": _metrics(settings),
    }
    pages: WSGIApp = CSRFGuard(Router(services, mounts), own_token_prefixes=(QUEUES_PREFIX,))
    if credentials is not None:
        pages = BasicAuth(pages, *credentials)
    return with_security_headers(_public_first(settings, pages))


def _credentials(settings: Settings, allow_unauthenticated: bool) -> tuple[str, str] | None:
    user, password = settings.dashboard_user, settings.dashboard_password
    if user and ":" in user:
        # Basic auth sends "user:password" and splits at the first colon: no one could log in.
        raise ConfigurationError("MAILER_DASHBOARD_USER", "may not contain a colon")
    if user and password:
        return user, password
    if allow_unauthenticated:
        return None
    raise ConfigurationError(
        "MAILER_DASHBOARD_USER",
        "the dashboard needs MAILER_DASHBOARD_USER and MAILER_DASHBOARD_PASSWORD "
        "(or `mailer dashboard --unauthenticated-local` on a developer's machine)",
    )


def _public_first(settings: Settings, pages: WSGIApp) -> WSGIApp:
    """The endpoints a platform or a recipient reaches without the operators' account (each
    checks its own credential, if any); everything else is ``pages``."""
    signed = _signed_endpoints(settings)
    providers = {
        webhooks.SES_PATH: webhooks.ses_app(settings),
        webhooks.SENDGRID_PATH: webhooks.sendgrid_app(settings),
    }

    def route(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == HEALTH_PATH:
            return health.app(environ, start_response)
        if path.startswith(UNSUBSCRIBE_PREFIX):
            return signed[UNSUBSCRIBE_PREFIX](environ, start_response)
        if path == notifications.STREAM_PATH:
            return signed[notifications.STREAM_PATH](environ, start_response)
        if path in providers:
            return providers[path](environ, start_response)
        if notification_api.handles(path):
            return signed[notification_api.PREFIX](environ, start_response)
        return pages(environ, start_response)

    return route


def _signed_endpoints(settings: Settings) -> dict[str, WSGIApp]:
    """The endpoints whose credential is a token signed with ``MAILER_SECRET_KEY``; without
    the key they say so (503), and the dashboard itself still serves the operators."""
    if not settings.secret_key:
        missing = text(503, "This endpoint needs MAILER_SECRET_KEY to be set.\n")
        return dict.fromkeys(
            (UNSUBSCRIBE_PREFIX, notifications.STREAM_PATH, notification_api.PREFIX), missing
        )
    return {
        UNSUBSCRIBE_PREFIX: unsubscribe.app_for(settings),
        notifications.STREAM_PATH: notifications.stream_app(settings),
        notification_api.PREFIX: notification_api.api_app(settings),
    }


def _metrics(settings: Settings) -> WSGIApp:
    """Imported on first use: the exporter's dependencies are needed only by who scrapes it."""

    def scrape(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            from mailer.web import metrics
        except ImportError as err:
            unavailable = text(503, f"Metrics are not available: {err}\n")
            return unavailable(environ, start_response)
        return metrics.app_for(settings)(environ, start_response)

    return scrape


#: The dashboard for ``mailer.web.app:app`` under any WSGI server, built on first request.
app = BuiltOnFirstRequest(make_app)
