"""The settings' fields and defaults, and the rules that hold across them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from mailer.addresses import parse_address
from mailer.env_values import EnvValues
from mailer.errors import ConfigurationError, ValidationError
from mailer.settings.rules import (
    check_dkim,
    check_failover_and_heartbeat,
    check_mailto,
    check_pairs,
    check_redis_url,
    is_origin,
    with_cert_check,
)

SMTP_SECURITY_MODES = ("starttls", "ssl", "none")
#: What ``publish`` does with a topic nobody subscribes to: raise ``UnknownTopic``, or log it.
UNKNOWN_TOPIC_MODES = ("error", "ignore")
#: A secret shorter than this is guessable by brute force offline from one signed link.
MIN_SECRET_KEY_CHARS = 32
#: How a ``rediss://`` connection checks Redis's certificate (redis-py's ``ssl_cert_reqs``).
REDIS_CERT_CHECKS = ("required", "none")


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
    # Sending once, signing, and Redis over TLS.
    send_deadline_s: float = 10.0
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key: str | None = field(default=None, repr=False)
    dkim_private_key_path: Path | None = None
    redis_cert_check: str = "required"

    def __post_init__(self) -> None:
        # Every Redis client (the broker's, the stores', the web process's) is made from the
        # URL, so the certificate check rides in it as redis-py's own ``ssl_cert_reqs``.
        url = with_cert_check(self.redis_url, self.redis_cert_check)
        object.__setattr__(self, "redis_url", url)

    # Provider webhooks (mailer.web.webhooks): SendGrid's key, SNS's topics and trust, replays.
    sendgrid_webhook_public_key: str | None = None
    sns_topic_arns: tuple[str, ...] = ()
    sns_trusted_url: str | None = None
    webhook_max_age_s: int = 24 * 3600
    # Deliverability: a mailbox that takes unsubscribe requests by email, beside the link.
    unsubscribe_mailto: str | None = None
    #: An app's tests: ``*.test`` and ``localhost`` addresses are accepted (``mailer.addresses``).
    test_environment: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every variable; raises ``ConfigurationError`` naming the first bad one."""
        # Each group of variables reads its defaults off this class.
        from mailer.settings.variables import read_all

        settings = cls(**read_all(EnvValues(os.environ if environ is None else environ)))
        settings.check()
        return settings

    def check(self) -> None:
        """Rules across fields; what one backend needs, its ``check_settings`` checks."""
        check_redis_url(self.redis_url)
        check_pairs(self)
        for variable, seconds in [
            ("MAILER_STATS_INTERVAL", self.stats_interval_s),
            ("SMTP_TIMEOUT", self.smtp_timeout_s),
            ("MAILER_SEND_DEADLINE", self.send_deadline_s),
        ]:
            if seconds <= 0:
                raise ConfigurationError(variable, "must be a positive number of seconds")
        if self.fallback_backend is not None and self.fallback_backend == self.backend:
            raise ConfigurationError("MAILER_FALLBACK_BACKEND", "must differ from MAILER_BACKEND")
        check_failover_and_heartbeat(self)
        check_dkim(self)
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            raise ConfigurationError(
                "MAILER_SECRET_KEY", f"must be at least {MIN_SECRET_KEY_CHARS} characters long"
            )
        for origin in self.cors_origins:
            if not is_origin(origin):
                raise ConfigurationError(
                    "MAILER_CORS_ORIGINS", f"{origin!r} is not an origin like https://app.example"
                )
        if self.unsubscribe_mailto is not None:
            check_mailto(self.unsubscribe_mailto)
        try:
            parse_address(self.from_email, "MAILER_FROM", test_domains=self.test_environment)
        except ValidationError as err:
            raise ConfigurationError("MAILER_FROM", err.problem) from None

    def summary(self) -> dict[str, object]:
        """The settings as shown in logs and the CLI: secrets masked, never printed."""
        shown: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            shown[f.name] = "***" if (not f.repr and value) else value
        return shown
