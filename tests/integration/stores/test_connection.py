"""The pool's check of a connection before it hands it out, made in one system call
(``mailer.stores.connection``), still catches what redis-py's own check catches."""

from __future__ import annotations

import select
from collections.abc import Iterator

import pytest
import redis

from mailer.sockets import QuickSendSocket
from mailer.stores.connection import (
    CONNECT_TIMEOUT_S,
    ProbingParser,
    QuickSendConnection,
    connect,
    read_reply,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=["", "?socket_timeout=5"], ids=["blocking", "with-a-socket-timeout"])
def client(redis_url: str, request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    client = connect(redis_url + request.param)
    yield client
    client.close()


def only_connection(client: redis.Redis) -> redis.Connection:
    pool = client.connection_pool
    [connection] = pool._available_connections
    assert isinstance(connection._parser, ProbingParser)
    return connection


def test_a_connection_the_server_closed_while_idle_is_made_again(client: redis.Redis) -> None:
    client.set("probe:key", "1")
    connection = only_connection(client)
    assert (
        client.client_kill_filter(_id=client.client_id(), skipme=False) == 1
    )  # as an idle timeout would

    assert client.get("probe:key") == b"1"  # no error: the check found it closed

    assert only_connection(client) is connection  # the same object, connected again
    client.delete("probe:key")


def test_a_reply_left_unread_never_answers_the_next_command(client: redis.Redis) -> None:
    client.set("probe:key", "mine")
    connection = client.connection_pool.get_connection("GET")
    connection.send_command("ECHO", "stale")  # given back before its reply was read
    select.select([connection._sock], [], [], 5)  # the reply has arrived
    client.connection_pool.release(connection)

    assert client.get("probe:key") == b"mine"
    client.delete("probe:key")


def test_a_healthy_connection_is_reused_and_stays_blocking(redis_url: str) -> None:
    client = connect(redis_url)
    client.ping()
    connection = only_connection(client)

    for _ in range(3):
        assert client.ping() is True

    assert only_connection(client) is connection
    assert connection._sock.gettimeout() is None  # the check left its mode alone
    client.close()


def test_the_broker_s_client_keeps_the_connect_timeout_and_the_cheaper_check(
    redis_url: str,
) -> None:
    # Dramatiq's RedisBroker(url=...) builds a pool of its own and drops connection options.
    from mailer.broker import build
    from mailer.settings import Settings

    broker = build(Settings(redis_url=redis_url), on_boot=lambda: None)
    options = broker.client.connection_pool.connection_kwargs
    assert options["socket_connect_timeout"] == CONNECT_TIMEOUT_S
    assert options["parser_class"] is ProbingParser
    assert broker.client.ping() is True
    broker.close()


def test_a_plain_tcp_connection_writes_through_the_quick_socket(redis_url: str) -> None:
    client = connect(redis_url)
    client.ping()
    connection = only_connection(client)
    assert isinstance(connection, QuickSendConnection)
    assert isinstance(connection._sock, QuickSendSocket)
    assert client.echo("x" * 200_000) == b"x" * 200_000  # past the quick write's limit
    client.close()


def test_a_reply_that_has_arrived_is_read_without_the_socket_s_own_read(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = connect(redis_url)
    connection = client.connection_pool.make_connection()
    connection.send_command("ECHO", "first")
    select.select([connection._sock], [], [], 5)  # the reply has arrived
    waits: list[object] = []
    real = QuickSendSocket.recv_into

    def recv_into(sock: QuickSendSocket, *args: object) -> int:
        waits.append(args)  # what lets go of the lock, and may wait
        return real(sock, *args)

    monkeypatch.setattr(QuickSendSocket, "recv_into", recv_into)
    assert read_reply(connection) == b"first"
    assert waits == []

    connection.send_command("ECHO", "second")  # not arrived yet, maybe: read the usual way
    assert read_reply(connection) == b"second"
    connection.disconnect()
    client.close()
