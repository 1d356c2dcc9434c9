"""Settings from the environment, read in one place and checked before any work starts.

A platform like Heroku configures a process only through its environment, so this module is
the one reader of ``os.environ``; ``mailer.env_values`` parses what each variable holds.
``Settings.from_env`` checks everything at once and names the variable at fault; tests build
``Settings(...)`` directly and install it with ``configure``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mailer.addresses import parse_address
from mailer.env_values import EnvValues
from mailer.errors import ConfigurationError, ValidationError

SMTP_SECURITY_MODES = ("starttls", "ssl", "none")
#: What ``publish`` does with a topic nobody subscribes to: raise ``UnknownTopic``, or log it.
UNKNOWN_TOPIC_MODES = ("error", "ignore")
#: A secret shorter than this is guessable by brute force offline from one signed link.
MIN_SECRET_KEY_CHARS = 32
_DEFAULT_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://localhost:6379/0"
    backend: str = "console"
    from_email: str = "mailer@example.com"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: str = "starttls"
    smtp_timeout_s: float = 10.0
    aws_region: str | None = None
    ses_endpoint_url: str | None = None
    ses_configuration_set: str | None = None
    sendgrid_api_key: str | None = field(default=None, repr=False)
    sendgrid_host: str = "https://api.sendgrid.com"
    outbox_dir: Path = Path("outbox")
    templates_dir: Path | None = None
    max_attachments_bytes: int = 10 * 1024 * 1024
    rate_limit: int | None = None
    rate_limits: Mapping[str, int] = field(default_factory=dict, hash=False)
    fallback_backend: str | None = None
    failover_after: int = 5
    failover_cooldown_s: float = 60.0
    idempotency_ttl_s: int = 24 * 3600
    heartbeat_timeout_s: float = 60.0
    admin_emails: tuple[str, ...] = ()
    digest_cron: str = "0 8 * * *"
    log_retention_s: int = 30 * 24 * 3600
    stats_interval_s: float = 30.0
    dashboard_user: str | None = None
    dashboard_password: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    public_url: str | None = None
    event_modules: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    unknown_topics: str = "error"
    admin_users: tuple[str, ...] = ()
    admin_users_source: str | None = None
    users_source: str | None = None
    newsletter_source: str | None = None
    notifications_per_user: int = 200
    notification_token_ttl_s: int = 24 * 3600
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every variable; raises ``ConfigurationError`` naming the first bad one."""
        env = EnvValues(os.environ if environ is None else environ)
        settings = cls(**_sending(env), **_reliability(env), **_web_and_events(env))
        settings.check()
        return settings

    def check(self) -> None:
        """Rules across fields; what one backend needs, its ``check_settings`` checks."""
        _check_redis_url(self.redis_url)
        _check_pairs(self)
        for variable, seconds in [
            ("MAILER_STATS_INTERVAL", self.stats_interval_s),
            ("SMTP_TIMEOUT", self.smtp_timeout_s),
        ]:
            if seconds <= 0:
                raise ConfigurationError(variable, "must be a positive number of seconds")
        if self.fallback_backend is not None and self.fallback_backend == self.backend:
            raise ConfigurationError("MAILER_FALLBACK_BACKEND", "must differ from MAILER_BACKEND")
        _check_failover_and_heartbeat(self)
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            raise ConfigurationError(
                "MAILER_SECRET_KEY", f"must be at least {MIN_SECRET_KEY_CHARS} characters long"
            )
        for origin in self.cors_origins:
            if not _is_origin(origin):
                raise ConfigurationError(
                    "MAILER_CORS_ORIGINS", f"{origin!r} is not an origin like https://app.example"
                )
        try:
            parse_address(self.from_email, "MAILER_FROM")
        except ValidationError as err:
            raise ConfigurationError("MAILER_FROM", err.problem) from None

    def summary(self) -> dict[str, object]:
        """The settings as shown in logs and the CLI: secrets masked, never printed."""
        shown: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            shown[f.name] = "***" if (not f.repr and value) else value
        return shown


# The variables in three groups, each read in the order its fields are declared, so the first
# bad variable is the one reported. SMTP_SECURITY comes first: SMTP_PORT's default follows it.


def _sending(env: EnvValues) -> dict[str, Any]:
    """Where mail goes and how: Redis, the backend and its credentials, the message's limits."""
    security = env.choice("SMTP_SECURITY", SMTP_SECURITY_MODES, "starttls")
    return dict(
        redis_url=env.text("REDIS_URL", Settings.redis_url),
        backend=env.text("MAILER_BACKEND", Settings.backend).lower(),
        from_email=env.text("MAILER_FROM", Settings.from_email),
        smtp_host=env.text("SMTP_HOST", Settings.smtp_host),
        smtp_port=env.integer("SMTP_PORT", _DEFAULT_SMTP_PORTS[security], low=1, high=65535),
        smtp_username=env.optional("SMTP_USERNAME"),
        smtp_password=env.optional("SMTP_PASSWORD"),
        smtp_security=security,
        smtp_timeout_s=env.number("SMTP_TIMEOUT", Settings.smtp_timeout_s),
        aws_region=env.optional("AWS_REGION") or env.optional("AWS_DEFAULT_REGION"),
        ses_endpoint_url=env.optional("MAILER_SES_ENDPOINT_URL"),
        ses_configuration_set=env.optional("MAILER_SES_CONFIGURATION_SET"),
        sendgrid_api_key=env.optional("SENDGRID_API_KEY"),
        sendgrid_host=env.text("MAILER_SENDGRID_HOST", Settings.sendgrid_host),
        outbox_dir=Path(env.text("MAILER_OUTBOX_DIR", str(Settings.outbox_dir))),
        templates_dir=env.directory("MAILER_TEMPLATES_DIR"),
        max_attachments_bytes=env.integer(
            "MAILER_MAX_ATTACHMENTS_BYTES", Settings.max_attachments_bytes, low=0
        ),
    )


def _reliability(env: EnvValues) -> dict[str, Any]:
    """Rate limits, failover, idempotency, the worker's heartbeat, the log and the digest."""
    return dict(
        rate_limit=env.optional_integer("MAILER_RATE_LIMIT", low=1),
        rate_limits=env.per_backend("MAILER_RATE_LIMITS"),
        fallback_backend=_lower(env.optional("MAILER_FALLBACK_BACKEND")),
        failover_after=env.integer("MAILER_FAILOVER_AFTER", Settings.failover_after, low=1),
        failover_cooldown_s=env.number("MAILER_FAILOVER_COOLDOWN", Settings.failover_cooldown_s),
        idempotency_ttl_s=env.integer("MAILER_IDEMPOTENCY_TTL", Settings.idempotency_ttl_s, low=60),
        heartbeat_timeout_s=env.number("MAILER_HEARTBEAT_TIMEOUT", Settings.heartbeat_timeout_s),
        admin_emails=env.addresses("MAILER_ADMIN_EMAILS"),
        digest_cron=env.text("MAILER_DIGEST_CRON", Settings.digest_cron),
        log_retention_s=env.integer("MAILER_LOG_RETENTION_DAYS", 30, low=1) * 24 * 3600,
        stats_interval_s=env.number("MAILER_STATS_INTERVAL", Settings.stats_interval_s),
    )


def _web_and_events(env: EnvValues) -> dict[str, Any]:
    """The dashboard, signed links, events and the app's sources, in-app notifications."""
    return dict(
        dashboard_user=env.optional("MAILER_DASHBOARD_USER"),
        dashboard_password=env.optional("MAILER_DASHBOARD_PASSWORD"),
        secret_key=env.optional("MAILER_SECRET_KEY"),
        public_url=env.url("MAILER_PUBLIC_URL"),
        event_modules=env.names("MAILER_EVENT_MODULES"),
        flows=env.names("MAILER_FLOWS"),
        unknown_topics=env.choice("MAILER_UNKNOWN_TOPICS", UNKNOWN_TOPIC_MODES, "error"),
        admin_users=env.names("MAILER_ADMIN_USERS"),
        admin_users_source=env.source("MAILER_ADMIN_USERS_SOURCE"),
        users_source=env.source("MAILER_USERS_SOURCE"),
        newsletter_source=env.source("MAILER_NEWSLETTER_SOURCE"),
        notifications_per_user=env.integer(
            "MAILER_NOTIFICATIONS_PER_USER", Settings.notifications_per_user, low=1, high=100_000
        ),
        notification_token_ttl_s=env.integer(
            "MAILER_NOTIFICATION_TOKEN_TTL", Settings.notification_token_ttl_s, low=60
        ),
        cors_origins=tuple(url for url in env.names("MAILER_CORS_ORIGINS")),
    )


def _check_redis_url(url: str) -> None:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError("REDIS_URL", "must be a redis://, rediss:// or unix:// URL")
    try:
        _ = urlsplit(url).port  # parses the port, raising on a non-number
    except ValueError:
        raise ConfigurationError("REDIS_URL", "has a port that is not a number") from None


def _check_pairs(settings: Settings) -> None:
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


def _check_failover_and_heartbeat(settings: Settings) -> None:
    if settings.failover_cooldown_s <= 0:
        raise ConfigurationError("MAILER_FAILOVER_COOLDOWN", "must be a positive number of seconds")
    # Dramatiq's workers refresh their heartbeat about once a second when idle; a
    # shorter timeout would hand a live worker's messages to another one.
    if settings.heartbeat_timeout_s < 5:
        raise ConfigurationError("MAILER_HEARTBEAT_TIMEOUT", "must be at least 5 seconds")


def _is_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.path


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


_current: Settings | None = None


def current() -> Settings:
    """The process's settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def configure(settings: Settings | None) -> None:
    """Install settings built in code (tests, ``mailer dev``); ``None`` re-reads the environment."""
    global _current
    _current = settings
