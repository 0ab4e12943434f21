"""Fake servers for tests: loopback stand-ins for the model APIs the runners talk to."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback port that nobody listens on (it was free a moment ago, and is closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
