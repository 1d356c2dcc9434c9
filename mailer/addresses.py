"""Address checks: syntax only (email-validator, no DNS), display names kept, CR/LF refused.

An app's test environment (``MAILER_TEST_ENVIRONMENT``) may use the domains set aside for
testing, which are refused otherwise since nothing can be delivered there: ``*.test`` (RFC
2606, email-validator's own ``test_environment`` switch) and ``localhost`` (RFC 6761).
``mailer.settings`` turns the switch on for the process when the setting says so.

Validation runs on every ``send_email`` call, in the web request, so results are cached: the
same few senders and a stream of recipients are checked in microseconds after the first time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from email_validator import EmailNotValidError, syntax, validate_email

from mailer.errors import InvalidAddress

_NAME_AND_ADDRESS = re.compile(r"^(?P<name>.*?)\s*<(?P<address>[^<>]*)>\s*$", re.DOTALL)
# RFC 5321's limit on a forward path, which email-validator enforces too.
_MAX_ADDRESS_LENGTH = 254
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 5322 "specials": a display name holding one must be quoted.
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
#: RFC 6761's loopback name, accepted in a test environment beside email-validator's ``*.test``.
_LOOPBACK_DOMAIN = "localhost"
_test_domains = False


def accept_test_domains(accept: bool) -> None:
    """Whether this process accepts ``*.test`` and ``localhost`` addresses (a test environment)."""
    global _test_domains
    _test_domains = accept


def parse_address(value: object, field: str, *, test_domains: bool | None = None) -> str:
    """One address as ``"Display Name <local@domain>"`` or ``local@domain``, normalised;
    ``test_domains`` (default: the process's switch) accepts ``*.test`` and ``localhost``."""
    if not isinstance(value, str):
        raise InvalidAddress(field, f"expected an address string, got {type(value).__name__}")
    return _parse_cached(value, field, _test_domains if test_domains is None else test_domains)


def parse_addresses(value: object, field: str, *, required: bool = False) -> list[str]:
    """A string or a list of strings; ``required`` refuses an empty result."""
    if value is None:
        items: Iterable[object] = []
    elif isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise InvalidAddress(
            field, f"expected a string or a list of strings, got {type(value).__name__}"
        )
    addresses = [parse_address(item, field) for item in items]
    if required and not addresses:
        raise InvalidAddress(field, "at least one recipient is required")
    return addresses


def addr_spec(address: str) -> str:
    """The bare ``local@domain`` of a normalised address, as SMTP envelopes and APIs want it."""
    match = _NAME_AND_ADDRESS.match(address)
    return match["address"] if match else address


def display_name(address: str) -> str:
    match = _NAME_AND_ADDRESS.match(address)
    return _unquote(match["name"]) if match else ""


@functools.lru_cache(maxsize=4096)
def _parse_cached(value: str, field: str, test_domains: bool) -> str:
    if "\r" in value or "\n" in value:
        raise InvalidAddress(field, "an address may not contain CR or LF")
    if not value.strip():
        raise InvalidAddress(field, "empty address")
    match = _NAME_AND_ADDRESS.match(value.strip())
    name, spec = (_unquote(match["name"]), match["address"]) if match else ("", value.strip())
    if _CONTROL.search(name):
        raise InvalidAddress(field, "a display name may not contain control characters")
    normalized = _plain_address(spec, test_domains) or _validated(spec, field, test_domains)
    return f"{_quote(name)} <{normalized}>" if name else normalized


def _validated(spec: str, field: str, test_domains: bool) -> str:
    try:
        normalized: str = validate_email(
            spec, check_deliverability=False, test_environment=test_domains
        ).normalized
    except EmailNotValidError as err:
        raise InvalidAddress(field, f"{spec!r} is not a valid address: {err}") from None
    return normalized


def _plain_address(spec: str, test_domains: bool) -> str | None:
    """The fast path for the common case, a plain ASCII ``local@domain``.

    email-validator's own local-part and domain checks, with the domain's (the slow part)
    cached: recipients are mostly new, their domains mostly not. Anything else, and every
    failure, returns None so the full ``validate_email`` decides and words the error.
    """
    local, at, domain = spec.rpartition("@")
    if not at or not spec.isascii() or '"' in local or len(spec) > _MAX_ADDRESS_LENGTH:
        return None
    try:
        local_part = syntax.validate_email_local_part(local)["local_part"]
    except EmailNotValidError:
        return None
    domain_part = _plain_domain(domain, test_domains)
    return f"{local_part}@{domain_part}" if domain_part else None


@functools.lru_cache(maxsize=1024)
def _plain_domain(domain: str, test_domains: bool) -> str | None:
    if domain.startswith("["):  # an address literal: left to the full check
        return None
    if test_domains and domain.lower() == _LOOPBACK_DOMAIN:
        return _LOOPBACK_DOMAIN
    try:
        checked = syntax.validate_email_domain_name(domain, test_environment=test_domains)
        normalized: str = checked["domain"]
    except EmailNotValidError:
        return None
    return normalized


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name


def _quote(name: str) -> str:
    if not _SPECIALS.search(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
