"""Fixtures for runner tests: real runner subprocesses, always killed and reaped."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from tests.runners.client import RunnerClient


@pytest.fixture
def spawn_runner() -> Iterator[Callable[..., RunnerClient]]:
    """A factory: ``spawn_runner("echo", env=..., cwd=...)`` -> a started :class:`RunnerClient`.

    Pass ``wait_ready=False`` to get it before its ``ready`` line is read.
    Every runner spawned through it is killed (whole process group) and reaped
    at teardown.
    """
    clients: list[RunnerClient] = []

    def spawn(name: str | None = None, *, wait_ready: bool = True, **kwargs: object) -> RunnerClient:
        client = RunnerClient(name, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client.start() if wait_ready else client

    yield spawn
    for client in clients:
        client.close()
