"""The SMTP client's socket held to its step timeouts by the kernel (``smtp_socket``): blocking,
no poll before each call, and still never waiting longer than a step or the deadline."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from mailer.backends.smtp import SMTPBackend
from mailer.backends.smtp_connection import Connection
from mailer.backends.smtp_socket import StepTimeouts
from mailer.errors import TransientSendError
from tests.integration.backends.test_smtp import make_email, settings_for
from tests.support.smtp_server import HOST, Certificate, SMTPSink

pytestmark = pytest.mark.integration


def kernel_timeout_s(sock: socket.socket, option: int) -> float:
    seconds, micros = struct.unpack("@ll", sock.getsockopt(socket.SOL_SOCKET, option, 16))
    return seconds + micros / 1_000_000


def test_a_plain_connection_is_blocking_with_the_step_timeout_in_the_kernel() -> None:
    with SMTPSink() as sink:
        connection = Connection(HOST, sink.port, deadline_s=time.monotonic() + 60, step_s=7.0)
        try:
            connection.ehlo()
            sock = connection.sock
            assert sock is not None
            assert sock.gettimeout() is None  # blocking: Python polls before no call
            for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
                assert kernel_timeout_s(sock, option) == pytest.approx(7.0, abs=0.2)
            refused = connection.sendmail("shop@example.com", ["ann@example.com"], b"x\r\n")
        finally:
            connection.close()
        assert refused == {}
        assert len(sink.wait_for(1)) == 1


def test_a_tls_connection_keeps_python_s_timeout(
    make_smtp_sink: object, smtp_certificate: Certificate
) -> None:
    sink = make_smtp_sink(tls="starttls", certificate=smtp_certificate)  # type: ignore[operator]
    settings = settings_for(sink)
    with SMTPBackend(settings, ssl_context=smtp_certificate.client_context()) as backend:
        backend.send(make_email())
        connection = backend._connection
        assert connection is not None and connection.sock is not None
        assert connection.sock.gettimeout() == pytest.approx(5.0, abs=0.2)
    assert sink.wait_for(1)[0].encrypted


@pytest.fixture
def half_a_reply() -> Iterator[int]:
    """A server that greets, then answers EHLO with half a line and nothing more."""
    listener = socket.create_server((HOST, 0))
    done = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"220 half.test ESMTP\r\n")
            connection.recv(1024)
            connection.sendall(b"250 half")  # no line end, ever
            done.wait(10)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    done.set()
    listener.close()


def test_half_a_reply_times_out_and_is_never_taken_for_a_whole_one(half_a_reply: int) -> None:
    settings = settings_for(SMTPSinkAddress(half_a_reply), smtp_timeout_s=0.4)
    started = time.monotonic()
    with pytest.raises(TransientSendError) as caught:
        SMTPBackend(settings).send(make_email())
    assert "timed out" in caught.value.detail
    assert 0.3 < time.monotonic() - started < 3


@pytest.fixture
def slow_reader() -> Iterator[tuple[socket.socket, threading.Event]]:
    """Our end of a TCP connection whose other end reads 64 KiB every 50 ms, small buffers
    between: a long message goes through in many parts, each well within a step timeout."""
    with socket.create_server((HOST, 0)) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ours = socket.socket()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ours.connect(listener.getsockname())
        theirs, _ = listener.accept()
    theirs.settimeout(0.1)
    stop = threading.Event()

    def read_slowly() -> None:
        while not stop.wait(0.05):
            with contextlib.suppress(TimeoutError):
                theirs.recv(65536)

    reader = threading.Thread(target=read_slowly, daemon=True)
    reader.start()
    with ours, theirs:
        yield ours, stop
        stop.set()
        reader.join()


def test_a_message_written_in_parts_is_held_to_the_deadline_as_a_whole(
    slow_reader: tuple[socket.socket, threading.Event],
) -> None:
    ours, _ = slow_reader
    timeouts = StepTimeouts(ours, slack_s=0.01)
    deadline_s = time.monotonic() + 0.5
    timeouts.give(0.3)  # the kernel's bound on one send() call, which may write only a part
    started = time.monotonic()

    with pytest.raises(TimeoutError):
        timeouts.send_all(b"x" * 20_000_000, lambda: max(deadline_s - time.monotonic(), 1e-6))

    assert time.monotonic() - started < 1.5  # the deadline, not 0.3 s for each part


class SMTPSinkAddress:
    """Just enough of an ``SMTPSink`` for ``settings_for``: where a hand-made server listens."""

    host, tls = HOST, None

    def __init__(self, port: int) -> None:
        self.port = port
