"""Settings from the environment, read in one place and checked before any work starts.

A platform like Heroku configures a process only through its environment, so this module is
the one reader of ``os.environ``. ``Settings.from_env`` checks everything at once and names the
variable at fault; tests build ``Settings(...)`` directly and install it with ``configure``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from mailer.addresses import parse_address
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
        env = _Env(os.environ if environ is None else environ)
        security = env.choice("SMTP_SECURITY", SMTP_SECURITY_MODES, "starttls")
        settings = cls(
            redis_url=env.text("REDIS_URL", cls.redis_url),
            backend=env.text("MAILER_BACKEND", cls.backend).lower(),
            from_email=env.text("MAILER_FROM", cls.from_email),
            smtp_host=env.text("SMTP_HOST", cls.smtp_host),
            smtp_port=env.integer("SMTP_PORT", _DEFAULT_SMTP_PORTS[security], low=1, high=65535),
            smtp_username=env.optional("SMTP_USERNAME"),
            smtp_password=env.optional("SMTP_PASSWORD"),
            smtp_security=security,
            smtp_timeout_s=env.number("SMTP_TIMEOUT", cls.smtp_timeout_s),
            aws_region=env.optional("AWS_REGION") or env.optional("AWS_DEFAULT_REGION"),
            ses_endpoint_url=env.optional("MAILER_SES_ENDPOINT_URL"),
            ses_configuration_set=env.optional("MAILER_SES_CONFIGURATION_SET"),
            sendgrid_api_key=env.optional("SENDGRID_API_KEY"),
            sendgrid_host=env.text("MAILER_SENDGRID_HOST", cls.sendgrid_host),
            outbox_dir=Path(env.text("MAILER_OUTBOX_DIR", str(cls.outbox_dir))),
            templates_dir=env.directory("MAILER_TEMPLATES_DIR"),
            max_attachments_bytes=env.integer(
                "MAILER_MAX_ATTACHMENTS_BYTES", cls.max_attachments_bytes, low=0
            ),
            rate_limit=env.optional_integer("MAILER_RATE_LIMIT", low=1),
            rate_limits=env.per_backend("MAILER_RATE_LIMITS"),
            fallback_backend=_lower(env.optional("MAILER_FALLBACK_BACKEND")),
            failover_after=env.integer("MAILER_FAILOVER_AFTER", cls.failover_after, low=1),
            failover_cooldown_s=env.number("MAILER_FAILOVER_COOLDOWN", cls.failover_cooldown_s),
            idempotency_ttl_s=env.integer("MAILER_IDEMPOTENCY_TTL", cls.idempotency_ttl_s, low=60),
            heartbeat_timeout_s=env.number("MAILER_HEARTBEAT_TIMEOUT", cls.heartbeat_timeout_s),
            admin_emails=env.addresses("MAILER_ADMIN_EMAILS"),
            digest_cron=env.text("MAILER_DIGEST_CRON", cls.digest_cron),
            log_retention_s=env.integer("MAILER_LOG_RETENTION_DAYS", 30, low=1) * 24 * 3600,
            stats_interval_s=env.number("MAILER_STATS_INTERVAL", cls.stats_interval_s),
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
                "MAILER_NOTIFICATIONS_PER_USER", cls.notifications_per_user, low=1, high=100_000
            ),
            notification_token_ttl_s=env.integer(
                "MAILER_NOTIFICATION_TOKEN_TTL", cls.notification_token_ttl_s, low=60
            ),
            cors_origins=tuple(url for url in env.names("MAILER_CORS_ORIGINS")),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Rules across fields; what one backend needs, its ``check_settings`` checks."""
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError("REDIS_URL", "must be a redis://, rediss:// or unix:// URL")
        try:
            _ = urlsplit(self.redis_url).port  # parses the port, raising on a non-number
        except ValueError:
            raise ConfigurationError("REDIS_URL", "has a port that is not a number") from None
        if self.smtp_username is not None and self.smtp_password is None:
            raise ConfigurationError("SMTP_PASSWORD", "is required when SMTP_USERNAME is set")
        if self.smtp_password is not None and self.smtp_username is None:
            raise ConfigurationError("SMTP_USERNAME", "is required when SMTP_PASSWORD is set")
        if self.dashboard_user is not None and self.dashboard_password is None:
            raise ConfigurationError(
                "MAILER_DASHBOARD_PASSWORD", "is required when MAILER_DASHBOARD_USER is set"
            )
        if self.dashboard_password is not None and self.dashboard_user is None:
            raise ConfigurationError(
                "MAILER_DASHBOARD_USER", "is required when MAILER_DASHBOARD_PASSWORD is set"
            )
        if self.stats_interval_s <= 0:
            raise ConfigurationError(
                "MAILER_STATS_INTERVAL", "must be a positive number of seconds"
            )
        if self.smtp_timeout_s <= 0:
            raise ConfigurationError("SMTP_TIMEOUT", "must be a positive number of seconds")
        if self.fallback_backend is not None and self.fallback_backend == self.backend:
            raise ConfigurationError("MAILER_FALLBACK_BACKEND", "must differ from MAILER_BACKEND")
        if self.failover_cooldown_s <= 0:
            raise ConfigurationError(
                "MAILER_FAILOVER_COOLDOWN", "must be a positive number of seconds"
            )
        # Dramatiq's workers refresh their heartbeat about once a second when idle; a
        # shorter timeout would hand a live worker's messages to another one.
        if self.heartbeat_timeout_s < 5:
            raise ConfigurationError("MAILER_HEARTBEAT_TIMEOUT", "must be at least 5 seconds")
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


class _Env:
    """Typed reads of one environment mapping; every error names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise ConfigurationError(name, f"must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(name, f"must be a whole number, not {raw!r}") from None
        if value < low or (high is not None and value > high):
            raise ConfigurationError(
                name, f"must be between {low} and {high or 'any'}, not {value}"
            )
        return value

    def optional_integer(self, name: str, *, low: int) -> int | None:
        if self.optional(name) is None:
            return None
        return self.integer(name, 0, low=low)

    def per_backend(self, name: str) -> dict[str, int]:
        """``ses=14,sendgrid=100``: a whole number per backend name."""
        limits: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in self.text(name, "").split(","))):
            backend, equals, raw = item.partition("=")
            value = _Env({name: raw}).integer(name, 0, low=1) if equals else 0
            if not backend.strip() or not value:
                raise ConfigurationError(name, f"expected backend=number pairs, got {item!r}")
            limits[backend.strip().lower()] = value
        return limits

    def addresses(self, name: str) -> tuple[str, ...]:
        raw = [part.strip() for part in self.text(name, "").split(",")]
        try:
            return tuple(parse_address(address, name) for address in raw if address)
        except ValidationError as err:
            raise ConfigurationError(name, err.problem) from None

    def names(self, name: str) -> tuple[str, ...]:
        """A comma-separated list, blanks dropped: ``a, b,`` is ``("a", "b")``."""
        return tuple(part.strip() for part in self.text(name, "").split(",") if part.strip())

    def url(self, name: str) -> str | None:
        """An http(s) base URL, without its trailing slash."""
        raw = self.optional(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(name, f"must be an http:// or https:// URL, not {raw!r}")
        return raw.rstrip("/")

    def source(self, name: str) -> str | None:
        """``package.module:callable``, imported where it is used (the worker, the web app)."""
        raw = self.optional(name)
        if raw is None:
            return None
        module, colon, attribute = raw.partition(":")
        if not colon or not _is_dotted(module) or not _is_dotted(attribute):
            raise ConfigurationError(name, f"expected package.module:callable, got {raw!r}")
        return raw

    def number(self, name: str, default: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigurationError(name, f"must be a number, not {raw!r}") from None

    def directory(self, name: str) -> Path | None:
        raw = self.optional(name)
        if raw is None:
            return None
        path = Path(raw)
        if not path.is_dir():
            raise ConfigurationError(name, f"{raw!r} is not a directory")
        return path


def _is_dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


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
