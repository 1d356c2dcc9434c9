"""Which environment variable sets which setting, read group by group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailer.env_values import EnvValues
from mailer.settings.model import (
    REDIS_CERT_CHECKS,
    SMTP_SECURITY_MODES,
    UNKNOWN_TOPIC_MODES,
    Settings,
)

_DEFAULT_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def read_all(env: EnvValues) -> dict[str, Any]:
    """Every group's fields, for ``Settings(**...)``."""
    return {
        **sending(env),
        **reliability(env),
        **web_and_events(env),
        **sending_once_and_signing(env),
        **webhooks(env),
        **deliverability(env),
        **testing(env),
    }


# The variables in three groups, each read in the order its fields are declared, so the first
# bad variable is the one reported. SMTP_SECURITY comes first: SMTP_PORT's default follows it.


def sending(env: EnvValues) -> dict[str, Any]:
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


def reliability(env: EnvValues) -> dict[str, Any]:
    """Rate limits, failover, idempotency, the worker's heartbeat, the log and the digest."""
    return dict(
        rate_limit=env.optional_integer("MAILER_RATE_LIMIT", low=1),
        rate_limits=env.per_backend("MAILER_RATE_LIMITS"),
        fallback_backend=_lower(env.optional("MAILER_FALLBACK_BACKEND")),
        failover_after=env.integer("MAILER_FAILOVER_AFTER", Settings.failover_after, low=1),
        failover_cooldown_s=env.number("MAILER_FAILOVER_COOLDOWN", Settings.failover_cooldown_s),
        idempotency_ttl_s=env.integer("MAILER_IDEMPOTENCY_TTL", Settings.idempotency_ttl_s, low=60),
        heartbeat_timeout_s=env.number("MAILER_HEARTBEAT_TIMEOUT", Settings.heartbeat_timeout_s),
        admin_emails=env.addresses(
            "MAILER_ADMIN_EMAILS", test_domains=env.flag("MAILER_TEST_ENVIRONMENT")
        ),
        digest_cron=env.text("MAILER_DIGEST_CRON", Settings.digest_cron),
        log_retention_s=env.integer("MAILER_LOG_RETENTION_DAYS", 30, low=1) * 24 * 3600,
        stats_interval_s=env.number("MAILER_STATS_INTERVAL", Settings.stats_interval_s),
    )


def web_and_events(env: EnvValues) -> dict[str, Any]:
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


def webhooks(env: EnvValues) -> dict[str, Any]:
    """What the providers' event webhooks trust: keys, topics, and how old a request may be."""
    return dict(
        sendgrid_webhook_public_key=env.optional("MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY"),
        sns_topic_arns=env.names("MAILER_SNS_TOPIC_ARNS"),
        sns_trusted_url=env.url("MAILER_SNS_TRUSTED_URL"),
        webhook_max_age_s=env.integer(
            "MAILER_WEBHOOK_MAX_AGE", Settings.webhook_max_age_s, low=60, high=7 * 24 * 3600
        ),
    )


def testing(env: EnvValues) -> dict[str, Any]:
    """An app's test environment: the addresses set aside for tests are accepted."""
    return dict(test_environment=env.flag("MAILER_TEST_ENVIRONMENT"))


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def sending_once_and_signing(env: EnvValues) -> dict[str, Any]:
    """The deadline of one provider call, DKIM for SMTP, and how Redis over TLS is checked."""
    key_path = env.optional("MAILER_DKIM_PRIVATE_KEY_FILE")
    return dict(
        send_deadline_s=env.number("MAILER_SEND_DEADLINE", Settings.send_deadline_s),
        dkim_selector=env.optional("MAILER_DKIM_SELECTOR"),
        dkim_domain=env.optional("MAILER_DKIM_DOMAIN"),
        dkim_private_key=env.optional("MAILER_DKIM_PRIVATE_KEY"),
        dkim_private_key_path=None if key_path is None else Path(key_path),
        redis_cert_check=env.choice(
            "MAILER_REDIS_CERT_CHECK", REDIS_CERT_CHECKS, Settings.redis_cert_check
        ),
    )


def deliverability(env: EnvValues) -> dict[str, Any]:
    """What the mail itself carries beside its content."""
    return dict(unsubscribe_mailto=env.optional("MAILER_UNSUBSCRIBE_MAILTO"))
