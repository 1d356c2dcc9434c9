"""Rules across settings, each naming the variable at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from mailer.errors import ConfigurationError

if TYPE_CHECKING:
    from mailer.settings.model import Settings


def check_redis_url(url: str) -> None:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError("REDIS_URL", "must be a redis://, rediss:// or unix:// URL")
    try:
        _ = urlsplit(url).port  # parses the port, raising on a non-number
    except ValueError:
        raise ConfigurationError("REDIS_URL", "has a port that is not a number") from None


def check_pairs(settings: Settings) -> None:
    """A user name without its password, or a password without its user, is a mistake."""
    pairs = [
        ("SMTP_USERNAME", settings.smtp_username, "SMTP_PASSWORD", settings.smtp_password),
        (
            "MAILER_DASHBOARD_USER",
            settings.dashboard_user,
            "MAILER_DASHBOARD_PASSWORD",
            settings.dashboard_password,
        ),
    ]
    for user_variable, user, password_variable, password in pairs:
        if user is not None and password is None:
            raise ConfigurationError(password_variable, f"is required when {user_variable} is set")
        if password is not None and user is None:
            raise ConfigurationError(user_variable, f"is required when {password_variable} is set")


def check_failover_and_heartbeat(settings: Settings) -> None:
    if settings.failover_cooldown_s <= 0:
        raise ConfigurationError("MAILER_FAILOVER_COOLDOWN", "must be a positive number of seconds")
    # Dramatiq's workers refresh their heartbeat about once a second when idle; a
    # shorter timeout would hand a live worker's messages to another one.
    if settings.heartbeat_timeout_s < 5:
        raise ConfigurationError("MAILER_HEARTBEAT_TIMEOUT", "must be at least 5 seconds")


def check_dkim(settings: Settings) -> None:
    """DKIM needs its selector, its domain and one key: any of them alone is a mistake."""
    key_set = settings.dkim_private_key is not None or settings.dkim_private_key_path is not None
    parts = {
        "MAILER_DKIM_SELECTOR": bool(settings.dkim_selector),
        "MAILER_DKIM_DOMAIN": bool(settings.dkim_domain),
        "MAILER_DKIM_PRIVATE_KEY": key_set,
    }
    missing = [variable for variable, given in parts.items() if not given]
    if missing and len(missing) < len(parts):
        raise ConfigurationError(
            missing[0],
            "is required to sign with DKIM: set MAILER_DKIM_SELECTOR, MAILER_DKIM_DOMAIN and "
            "MAILER_DKIM_PRIVATE_KEY (or MAILER_DKIM_PRIVATE_KEY_FILE) together",
        )
    if settings.dkim_private_key is not None and settings.dkim_private_key_path is not None:
        raise ConfigurationError(
            "MAILER_DKIM_PRIVATE_KEY_FILE", "set either it or MAILER_DKIM_PRIVATE_KEY, not both"
        )


def with_cert_check(url: str, cert_check: str) -> str:
    """``url``, told not to verify the server's certificate when ``cert_check`` is ``none``
    (Heroku Redis's is self-signed); a ``ssl_cert_reqs`` the URL gives itself wins."""
    parts = urlsplit(url)
    if cert_check == "required" or parts.scheme != "rediss" or "ssl_cert_reqs=" in parts.query:
        return url
    query = "&".join(filter(None, [parts.query, f"ssl_cert_reqs={cert_check}"]))
    return urlunsplit(parts._replace(query=query))


def is_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.path


def check_mailto(address: str) -> None:
    """``MAILER_UNSUBSCRIBE_MAILTO``: a bare ASCII address, as a ``mailto:`` URL carries it."""
    local, at, domain = address.rpartition("@")
    if not (at and local and "." in domain and address.isascii()) or any(
        char in address for char in ' <>?,"()'
    ):
        raise ConfigurationError(
            "MAILER_UNSUBSCRIBE_MAILTO", "must be a bare ASCII address like unsubscribe@example.com"
        )
