import pytest
from email_validator import EmailNotValidError, validate_email

from mailer.addresses import addr_spec, display_name, parse_address, parse_addresses
from mailer.errors import InvalidAddress

EDGE_CASES = [
    "ann@example.com",
    "Ann.Smith+tag@Example.COM",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@b",
    "a@localhost",
    "a@example.invalid",
    "a@-example.com",
    "a@exa_mple.com",
    "x" * 65 + "@example.com",
    "a@" + "b" * 64 + ".com",
    "a@[127.0.0.1]",
    '"a b"@example.com',
    "a@example.com.",
    "a!#$%&'*+/=?^_`{|}~-@example.com",
    "a@xn--exmple-cua.com",
    "a@123.com",
    "a@ex--ample.com",
    "a@example.123",
    "zoë@exämple.com",
]


@pytest.mark.parametrize("address", EDGE_CASES)
def test_agrees_with_email_validator(address):
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        with pytest.raises(InvalidAddress):
            parse_address(address, "to")
    else:
        assert parse_address(address, "to") == expected


@pytest.mark.parametrize(
    ("given", "normalized", "name"),
    [
        ("Ann Smith <ann@Example.com>", "Ann Smith <ann@example.com>", "Ann Smith"),
        ('"Zoë, Ann" <ann@example.com>', '"Zoë, Ann" <ann@example.com>', "Zoë, Ann"),
        ("Zoë <ann@example.com>", "Zoë <ann@example.com>", "Zoë"),
        ("  ann@example.com ", "ann@example.com", ""),
    ],
)
def test_display_names_are_kept(given, normalized, name):
    parsed = parse_address(given, "to")
    assert parsed == normalized
    assert display_name(parsed) == name
    assert addr_spec(parsed) == "ann@example.com"


def test_a_list_is_checked_item_by_item():
    assert parse_addresses(["a@example.com", "B <b@example.com>"], "cc") == [
        "a@example.com",
        "B <b@example.com>",
    ]
    with pytest.raises(InvalidAddress, match="cc"):
        parse_addresses(["a@example.com", "nope"], "cc")
