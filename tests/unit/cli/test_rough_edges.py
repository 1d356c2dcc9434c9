"""The command line's rough edges, each as a user met it: one line that says what to do, never
a traceback."""

from __future__ import annotations

import pytest

from mailer.envelope import check_headers
from mailer.errors import ConfigurationError, InvalidHeader
from mailer.settings import Settings


@pytest.mark.parametrize("value", ["-3", "0"])
def test_a_rate_limit_below_one_says_what_to_set(value):
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"MAILER_RATE_LIMIT": value})
    message = str(refused.value)
    assert message == (
        f"MAILER_RATE_LIMIT: must be a whole number of at least 1, not {value}; "
        "leave it unset for none"
    )
    assert "any" not in message


def test_a_bounded_number_names_both_bounds():
    with pytest.raises(ConfigurationError, match="must be a whole number from 1 to 65535, not 0"):
        Settings.from_env({"SMTP_PORT": "0"})


def test_a_subject_header_points_at_the_template():
    with pytest.raises(InvalidHeader) as refused:
        check_headers({"Subject": "hi"})
    assert "subject.txt" in str(refused.value)
    assert "argument" not in str(refused.value)


@pytest.mark.parametrize(
    ("header", "advice"),
    [("To", "to="), ("Reply-To", "reply_to="), ("From", "from_email="), ("Date", "cannot be set")],
)
def test_other_reserved_headers_say_what_to_do(header, advice):
    with pytest.raises(InvalidHeader, match=advice):
        check_headers({header: "x"})
