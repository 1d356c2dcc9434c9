"""Waiting for a server process a test started to accept connections on its port."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(
    process: subprocess.Popen[str], port: int, name: str, timeout_s: float = 20.0
) -> None:
    """Return once ``port`` accepts; fail the test with ``name``'s output if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.communicate()[0] if process.stdout else ""
            pytest.fail(f"{name} exited with {process.returncode}:\n{output}")
        if listening(port):
            return
        time.sleep(0.05)
    pytest.fail(f"{name} did not listen on {port}")
