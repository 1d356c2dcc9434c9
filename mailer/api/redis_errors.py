"""Redis failures as mailer's own ``BrokerUnavailable``, in the manner of httpx's ``_map_errors``.

A caller of ``send_email`` should catch ``mailer.MailerError`` and nothing else: which client
library sits under the broker is mailer's business. So every public call that touches Redis
runs under ``broker_errors``: a refused connection, a timeout, or a Redis still loading its
dataset after a restart (``BusyLoadingError``) becomes ``BrokerUnavailable``, with the redis-py
error as its ``__cause__`` and the URL's password masked. Other Redis errors (a bug, a wrong
type under a key) are left as they are: they are not about Redis being away.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq.errors
import redis.exceptions

from mailer import settings as mailer_settings
from mailer.errors import BrokerUnavailable

P = ParamSpec("P")
R = TypeVar("R")

#: Redis is away: refused or dropped connections (``BusyLoadingError`` is one), timeouts, and
#: Dramatiq's own wrapper of them.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    dramatiq.errors.ConnectionError,
)
_MASK = "***"


def masked_url(url: str) -> str:
    """``url`` fit for a log line: ``redis://:secret@host:6379/0`` is ``redis://:***@host:6379/0``,
    and a ``password=`` query parameter is masked too."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{_MASK}@{hostinfo}"
    query = parts.query
    if "password" in dict(parse_qsl(query)):
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, _MASK if k == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def problem(err: BaseException, url: str) -> str:
    """What went wrong, in words, without anything of ``url`` redis-py might have echoed."""
    if isinstance(err, redis.exceptions.BusyLoadingError):
        return "it is loading its dataset into memory; try again in a moment"
    text = f"{type(err).__name__}: {err}"
    password = urlsplit(url).password
    for secret in (password, dict(parse_qsl(urlsplit(url).query)).get("password")):
        if secret:
            text = text.replace(secret, _MASK)
    return text


def unavailable(err: BaseException, url: str) -> BrokerUnavailable:
    return BrokerUnavailable(masked_url(url), problem(err, url))


@contextlib.contextmanager
def broker_errors(url: str) -> Iterator[None]:
    """Raise ``BrokerUnavailable`` for Redis at ``url`` being down, slow to answer, or loading."""
    try:
        yield
    except UNAVAILABLE as err:
        raise unavailable(err, url) from err


def maps_broker_errors(call: Callable[P, R]) -> Callable[P, R]:
    """``call`` under ``broker_errors`` for the configured Redis: for the public functions."""

    @functools.wraps(call)
    def mapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except UNAVAILABLE as err:
            raise unavailable(err, mailer_settings.current().redis_url) from err

    return mapped
