import pytest

from mailer.backends import create_backend
from mailer.errors import ConfigurationError
from mailer.settings import Settings


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.backend == "console"
    assert settings.redis_url == "redis://localhost:6379/0"


def test_values_are_read_and_typed():
    settings = Settings.from_env(
        {
            "MAILER_BACKEND": "SMTP",
            "SMTP_SECURITY": "ssl",
            "SMTP_TIMEOUT": "2.5",
            "MAILER_FROM": "a@example.com",
        }
    )
    assert (settings.backend, settings.smtp_port, settings.smtp_timeout_s) == ("smtp", 465, 2.5)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SMTP_PORT": "abc"}, "SMTP_PORT"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
        ({"SMTP_SECURITY": "tls13"}, "SMTP_SECURITY"),
        ({"SMTP_TIMEOUT": "soon"}, "SMTP_TIMEOUT"),
        ({"SMTP_TIMEOUT": "0"}, "SMTP_TIMEOUT"),
        ({"SMTP_USERNAME": "user"}, "SMTP_PASSWORD"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://localhost:abc/0"}, "REDIS_URL"),
        ({"MAILER_FROM": "not an address"}, "MAILER_FROM"),
        ({"MAILER_TEMPLATES_DIR": "/no/such/dir"}, "MAILER_TEMPLATES_DIR"),
        ({"MAILER_MAX_ATTACHMENTS_BYTES": "-1"}, "MAILER_MAX_ATTACHMENTS_BYTES"),
        ({"MAILER_RATE_LIMIT": "0"}, "MAILER_RATE_LIMIT"),
        ({"MAILER_RATE_LIMIT": "ten"}, "MAILER_RATE_LIMIT"),
        ({"MAILER_RATE_LIMITS": "ses"}, "MAILER_RATE_LIMITS"),
        ({"MAILER_RATE_LIMITS": "ses=fast"}, "MAILER_RATE_LIMITS"),
        ({"MAILER_RATE_LIMITS": "=14"}, "MAILER_RATE_LIMITS"),
        ({"MAILER_FALLBACK_BACKEND": "Console"}, "MAILER_FALLBACK_BACKEND"),
        ({"MAILER_FAILOVER_AFTER": "0"}, "MAILER_FAILOVER_AFTER"),
        ({"MAILER_FAILOVER_COOLDOWN": "-1"}, "MAILER_FAILOVER_COOLDOWN"),
        ({"MAILER_IDEMPOTENCY_TTL": "5"}, "MAILER_IDEMPOTENCY_TTL"),
        ({"MAILER_HEARTBEAT_TIMEOUT": "1"}, "MAILER_HEARTBEAT_TIMEOUT"),
        ({"MAILER_ADMIN_EMAILS": "ops@example.com, nobody"}, "MAILER_ADMIN_EMAILS"),
        ({"MAILER_LOG_RETENTION_DAYS": "0"}, "MAILER_LOG_RETENTION_DAYS"),
        ({"MAILER_STATS_INTERVAL": "0"}, "MAILER_STATS_INTERVAL"),
        ({"MAILER_DASHBOARD_USER": "ops"}, "MAILER_DASHBOARD_PASSWORD"),
        ({"MAILER_DASHBOARD_PASSWORD": "s3cret"}, "MAILER_DASHBOARD_USER"),
    ],
)
def test_errors_name_the_variable(environ, variable):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(environ)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(variable)
    assert str(raised.value).count(variable) == 1


def test_delivery_control_settings_are_read_and_typed():
    settings = Settings.from_env(
        {
            "MAILER_RATE_LIMIT": "50",
            "MAILER_RATE_LIMITS": "SES=14, sendgrid=100",
            "MAILER_FALLBACK_BACKEND": "SES",
            "MAILER_FAILOVER_COOLDOWN": "30",
            "MAILER_ADMIN_EMAILS": "ops@example.com, Ann <ann@example.com>",
        }
    )
    assert settings.rate_limit == 50
    assert settings.rate_limits == {"ses": 14, "sendgrid": 100}
    assert (settings.fallback_backend, settings.failover_cooldown_s) == ("ses", 30.0)
    assert settings.admin_emails == ("ops@example.com", "Ann <ann@example.com>")
    assert Settings.from_env({}).rate_limit is None


def test_unknown_backend_is_refused_naming_the_variable():
    with pytest.raises(ConfigurationError, match="MAILER_BACKEND"):
        create_backend(Settings.from_env({"MAILER_BACKEND": "carrier-pigeon"}))


def test_provider_backends_need_a_real_sender():
    with pytest.raises(ConfigurationError, match="MAILER_FROM"):
        create_backend(Settings.from_env({"MAILER_BACKEND": "smtp"}))


def test_secrets_never_show():
    settings = Settings.from_env(
        {
            "SMTP_USERNAME": "user",
            "SMTP_PASSWORD": "hunter2-secret",
            "SENDGRID_API_KEY": "SG.secret-key",
            "MAILER_DASHBOARD_USER": "ops",
            "MAILER_DASHBOARD_PASSWORD": "dash-secret",
        }
    )
    assert "dash-secret" not in repr(settings) and "dash-secret" not in str(settings.summary())
    assert "hunter2-secret" not in repr(settings)
    assert "SG.secret-key" not in repr(settings)
    assert "hunter2-secret" not in str(settings.summary())
    assert settings.summary()["smtp_password"] == "***"


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        (Settings(fallback_backend="carrier-pigeon"), "MAILER_FALLBACK_BACKEND"),
        (Settings(rate_limits={"carrier-pigeon": 3}), "MAILER_RATE_LIMITS"),
        (Settings(fallback_backend="ses"), "MAILER_FROM"),
    ],
)
def test_every_backend_the_settings_name_is_checked_at_start(settings, variable):
    from mailer.actors.emails import _check_backends

    with pytest.raises(ConfigurationError) as raised:
        _check_backends(settings)
    assert raised.value.variable == variable


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"MAILER_SEND_DEADLINE": "0"}, "MAILER_SEND_DEADLINE"),
        ({"MAILER_SEND_DEADLINE": "soon"}, "MAILER_SEND_DEADLINE"),
        ({"MAILER_DKIM_SELECTOR": "s1", "MAILER_DKIM_DOMAIN": "x.test"}, "MAILER_DKIM_PRIVATE_KEY"),
        ({"MAILER_DKIM_PRIVATE_KEY_FILE": "/k.pem"}, "MAILER_DKIM_SELECTOR"),
        ({"MAILER_REDIS_CERT_CHECK": "optional"}, "MAILER_REDIS_CERT_CHECK"),
    ],
)
def test_sending_once_signing_and_tls_settings_name_the_variable_at_fault(environ, variable):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(environ)
    assert caught.value.variable == variable


def test_a_dkim_key_given_twice_is_refused():
    environ = {
        "MAILER_DKIM_SELECTOR": "s1",
        "MAILER_DKIM_DOMAIN": "x.test",
        "MAILER_DKIM_PRIVATE_KEY": "pem",
        "MAILER_DKIM_PRIVATE_KEY_FILE": "/k.pem",
    }
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(environ)
    assert caught.value.variable == "MAILER_DKIM_PRIVATE_KEY_FILE"


@pytest.mark.parametrize(
    ("url", "check", "expected"),
    [
        ("rediss://:pw@h:6380/0", "none", "rediss://:pw@h:6380/0?ssl_cert_reqs=none"),
        (
            "rediss://h:6380/0?ssl_cert_reqs=required",
            "none",
            "rediss://h:6380/0?ssl_cert_reqs=required",
        ),
        ("rediss://h:6380/0", "required", "rediss://h:6380/0"),
        ("redis://h:6379/0", "none", "redis://h:6379/0"),
    ],
)
def test_the_redis_certificate_check_rides_in_the_url_every_client_is_made_from(
    url, check, expected
):
    environ = {"REDIS_URL": url, "MAILER_REDIS_CERT_CHECK": check}
    assert Settings.from_env(environ).redis_url == expected


def test_the_provider_webhook_variables_are_read():
    settings = Settings.from_env(
        {
            "MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
            "MAILER_SNS_TOPIC_ARNS": "arn:aws:sns:us-east-1:1:a, arn:aws:sns:eu-west-1:1:b",
            "MAILER_SNS_TRUSTED_URL": "http://127.0.0.1:9000/",
            "MAILER_WEBHOOK_MAX_AGE": "3600",
        }
    )
    assert settings.sns_topic_arns == ("arn:aws:sns:us-east-1:1:a", "arn:aws:sns:eu-west-1:1:b")
    assert (settings.sns_trusted_url, settings.webhook_max_age_s) == ("http://127.0.0.1:9000", 3600)
    assert Settings.from_env({}).webhook_max_age_s == 24 * 3600
    with pytest.raises(ConfigurationError, match="MAILER_WEBHOOK_MAX_AGE"):
        Settings.from_env({"MAILER_WEBHOOK_MAX_AGE": "5"})
    with pytest.raises(ConfigurationError, match="MAILER_SNS_TRUSTED_URL"):
        Settings.from_env({"MAILER_SNS_TRUSTED_URL": "ftp://example.com"})


def test_the_unsubscribe_mailbox_is_a_bare_ascii_address():
    settings = Settings.from_env({"MAILER_UNSUBSCRIBE_MAILTO": "unsubscribe@example.com"})
    assert settings.unsubscribe_mailto == "unsubscribe@example.com"
    for bad in ("Unsub <u@example.com>", "u@example", "ü@example.com", "u@example.com?x=1"):
        with pytest.raises(ConfigurationError, match="MAILER_UNSUBSCRIBE_MAILTO"):
            Settings.from_env({"MAILER_UNSUBSCRIBE_MAILTO": bad})
