"""Fixtures for runner tests: real runner subprocesses, always killed and reaped."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.runners.cli_fixtures import claude_cli, claude_setup, cli_runner, codex_cli, codex_setup
from tests.runners.client import RunnerClient

# The real-CLI fixtures, for every test module here (a test names them as arguments).
__all__ = ["claude_cli", "claude_setup", "cli_runner", "codex_cli", "codex_setup", "spawn_runner"]


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
