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
    ],
)
def test_errors_name_the_variable(environ, variable):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(environ)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(variable)
    assert str(raised.value).count(variable) == 1


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
        }
    )
    assert "hunter2-secret" not in repr(settings)
    assert "SG.secret-key" not in repr(settings)
    assert "hunter2-secret" not in str(settings.summary())
    assert settings.summary()["smtp_password"] == "***"
