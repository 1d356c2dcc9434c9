"""The domains set aside for tests (``*.test``, RFC 2606; ``localhost``, RFC 6761) are refused
in production and accepted where the app says it is a test environment: in the settings and
at ``send_email``."""

from __future__ import annotations

import dataclasses

import pytest

from mailer import send_email, settings
from mailer.addresses import parse_address
from mailer.errors import ConfigurationError, InvalidAddress
from mailer.settings import Settings

TEST_ADDRESSES = ["ops@acme.test", "ann@example.test", "Ann <ann@localhost>", "root@LOCALHOST"]


@pytest.mark.parametrize("address", TEST_ADDRESSES)
def test_test_domains_are_refused_outside_a_test_environment(address):
    with pytest.raises(InvalidAddress, match="is not a valid address"):
        parse_address(address, "to", test_domains=False)


@pytest.mark.parametrize("address", TEST_ADDRESSES)
def test_test_domains_are_accepted_in_a_test_environment(address):
    assert (
        parse_address(address, "to", test_domains=True)
        .lower()
        .endswith((".test", "localhost", "localhost>"))
    )


def test_other_reserved_domains_stay_refused_in_a_test_environment():
    for address in ["a@example.invalid", "a@printer.local", "a@b"]:
        with pytest.raises(InvalidAddress):
            parse_address(address, "to", test_domains=True)


def test_admin_emails_on_a_test_domain_need_the_test_environment():
    with pytest.raises(ConfigurationError, match="MAILER_ADMIN_EMAILS"):
        Settings.from_env({"MAILER_ADMIN_EMAILS": "ops@acme.test"})
    configured = Settings.from_env(
        {"MAILER_ADMIN_EMAILS": "ops@acme.test", "MAILER_TEST_ENVIRONMENT": "true"}
    )
    assert configured.admin_emails == ("ops@acme.test",)
    assert configured.test_environment


def test_the_sender_may_be_on_localhost_in_a_test_environment():
    env = {"MAILER_FROM": "webmaster@localhost"}
    with pytest.raises(ConfigurationError, match="MAILER_FROM"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "MAILER_TEST_ENVIRONMENT": "1"}).from_email == (
        "webmaster@localhost"
    )


def test_a_test_environment_flag_that_is_not_a_boolean_is_refused():
    with pytest.raises(ConfigurationError, match="MAILER_TEST_ENVIRONMENT: must be true or false"):
        Settings.from_env({"MAILER_TEST_ENVIRONMENT": "sometimes"})


def test_send_email_takes_test_domains_when_the_settings_say_test(stub_broker, mailer_settings):
    with pytest.raises(InvalidAddress, match="to"):
        send_email("welcome", to="ann@example.test", context={"name": "Ann"})
    settings.configure(dataclasses.replace(mailer_settings, test_environment=True))
    assert send_email("welcome", to="ann@example.test", cc="ops@localhost", context={"name": "A"})
    settings.configure(mailer_settings)
    with pytest.raises(InvalidAddress):
        send_email("welcome", to="ann@example.test", context={"name": "Ann"})
