"""Socket calls made with the interpreter lock held (``mailer.sockets``): they never wait, and
what they cannot do at once is left to the socket's usual call."""

from __future__ import annotations

import ctypes
import socket
import threading
from collections.abc import Iterator

import pytest

from mailer.sockets import MAX_QUICK_SEND, QuickSendSocket, nothing_to_read, recv_now, send_now


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_the_peek_tells_an_idle_socket_from_one_with_data_or_closed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    assert nothing_to_read(ours) is True  # idle: no read needed

    theirs.sendall(b"+OK\r\n")
    assert nothing_to_read(ours) is False  # a reply waits: read it the usual way
    assert ours.recv(16) == b"+OK\r\n"  # and the peek took nothing from it
    assert nothing_to_read(ours) is True

    theirs.close()
    assert nothing_to_read(ours) is False  # the end of the stream: read it, and see


def test_a_read_takes_what_arrived_and_never_waits_for_more(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    buffer = ctypes.create_string_buffer(4)
    assert recv_now(ours, buffer) == 0  # nothing there: no wait, nothing read

    theirs.sendall(b"+OK\r\n")
    assert recv_now(ours, buffer) == 4  # what fits
    assert buffer.raw == b"+OK\r"
    assert recv_now(ours, buffer) == 1 and buffer.raw[:1] == b"\n"
    assert recv_now(ours, buffer) == 0

    theirs.close()
    assert recv_now(ours, buffer) == 0  # the end of the stream: the usual read says so
    assert ours.recv(1) == b""


def test_a_short_write_goes_whole_and_a_long_one_is_not_tried(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    assert send_now(ours, b"PING\r\n") == 6
    assert theirs.recv(16) == b"PING\r\n"
    assert send_now(ours, b"x" * (MAX_QUICK_SEND + 1)) == 0
    assert send_now(ours, memoryview(b"abc")) == 0  # bytes only


def test_a_full_buffer_takes_what_it_can_and_never_waits(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair  # the other end never reads
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    written = [send_now(ours, b"y" * MAX_QUICK_SEND) for _ in range(64)]
    assert 0 < sum(written) < 64 * MAX_QUICK_SEND
    assert written[-1] == 0  # full: nothing taken, and no wait


def test_a_closed_peer_is_left_to_the_usual_call_to_report(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    theirs.close()
    assert send_now(ours, b"PING\r\n") == 0
    with pytest.raises(BrokenPipeError):
        ours.sendall(b"PING\r\n")


def test_the_quick_socket_sends_everything_of_a_message_too_long_for_the_buffer() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        plain = socket.create_connection(listener.getsockname(), timeout=5)
        theirs, _ = listener.accept()
    quick = QuickSendSocket.taking_over(plain)
    assert plain.fileno() == -1 and quick.gettimeout() == 5
    message = bytes(range(256)) * 40_000  # 10 MB: written in parts, the rest waiting
    received = bytearray()

    def read() -> None:
        while len(received) < len(message):
            received.extend(theirs.recv(1 << 20))

    reader = threading.Thread(target=read)
    reader.start()
    with quick, theirs:
        quick.sendall(b"HELLO")
        quick.sendall(message[5:])
        reader.join(10)
    assert bytes(received) == b"HELLO" + message[5:]
