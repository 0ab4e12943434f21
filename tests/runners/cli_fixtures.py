"""Pytest fixtures for the real-CLI tests: the installed CLIs, fake servers, configs, runners.

``tests/runners/conftest.py`` makes the fixtures available to every test module
there; elsewhere, import the ones a module needs by name (pytest picks them up
from the module namespace)::

    from tests.runners.cli_fixtures import claude_cli, claude_setup  # noqa: F401

Reusable beyond the runner tests: :class:`ClaudeSetup` / :class:`CodexSetup` hold
everything a session needs (fake server, config dir / codex home, work dir, the
first-query options a manager would send), so manager-level tests can start
sessions with the same configuration (``SidecarManager(claude_path=claude_cli)``,
``start_session(..., **setup.session_kwargs())``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import realcli
from tests._proc import descendants, is_alive, wait_gone
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai_responses import FakeResponses
from tests.runners.client import RunnerClient

__all__ = [
    "ClaudeSetup",
    "CodexSetup",
    "CliRunner",
    "stripped_env",
    "processes_in",
    "cmdline",
    "assert_no_process_in",
    "claude_cli",
    "codex_cli",
    "claude_setup",
    "codex_setup",
    "cli_runner",
]

#: Environment prefixes the manager strips from a runner's environment (``sidecar_sync.env``).
STRIP_PREFIXES = ("CLAUDE", "CODEX", "OLLAMA", "ANTHROPIC_")
KEEP_PREFIXES = ("CLAUDE_CODE_EXPERIMENTAL_",)
IS_ROOT = os.geteuid() == 0


def stripped_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove from this process's environment what the manager strips for a runner.

    ``IS_SANDBOX`` goes too: whether Claude Code may bypass permissions as root must
    come from the test (as a user's ``extra_env``), not from the machine.
    """
    for key in list(os.environ):
        if key.startswith(STRIP_PREFIXES) and not key.startswith(KEEP_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.delenv("IS_SANDBOX", raising=False)


def processes_in(directory: Path) -> list[int]:
    """Pids of live processes whose working directory is ``directory`` or below it.

    The CLIs run with the session's work dir as cwd, so this finds them (and
    anything they started) even after they were orphaned, when they are no
    longer descendants of the runner.
    """
    root = str(directory.resolve())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if (cwd == root or cwd.startswith(root + os.sep)) and is_alive(int(entry)):
            found.append(int(entry))
    return found


def cmdline(pid: int) -> bytes:
    """The raw command line of a process (b"" if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def assert_no_process_in(directory: Path, timeout: float = 5.0) -> None:
    """Fail if some process still runs in ``directory`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while processes_in(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = processes_in(directory)
    assert not left, f"processes left running in {directory}: {left}"


def _installed(cli: realcli.NpmCli) -> str:
    try:
        return str(realcli.install(cli))
    except realcli.NpmUnavailable as exc:
        pytest.skip(f"REAL-CLI TESTS SKIPPED: {exc}")


@pytest.fixture(scope="session")
def claude_cli() -> str:
    """Path of the real Claude Code CLI (pinned npm install, cached; skips only without npm)."""
    return _installed(realcli.CLAUDE)


@pytest.fixture(scope="session")
def codex_cli() -> str:
    """Path of the real Codex CLI (pinned npm install, cached; skips only without npm)."""
    return _installed(realcli.CODEX)


@dataclass
class ClaudeSetup:
    """A fake Messages API plus a Claude Code config dir pointing at it.

    Attributes:
        api: the running fake server (script replies on it).
        config_dir: the config dir (``settings.json`` with env block + apiKeyHelper).
        work: an empty working directory for the CLI.
        home: the HOME of the runner (so nothing touches the real one).
        env: environment variables for the runner (HOME, and IS_SANDBOX as root).
    """

    api: FakeAnthropic
    config_dir: Path
    work: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def query(self, prompt: str, session_id: str = "s1", **options: Any) -> dict[str, Any]:
        """A first query carrying this setup's options (more options as wire keys)."""
        command = {
            "type": "query",
            "sessionId": session_id,
            "prompt": prompt,
            "cwd": str(self.work),
            "claudeConfigDir": str(self.config_dir),
            "permissionMode": "bypassPermissions",
        }
        command.update(options)
        return command

    def session_kwargs(self) -> dict[str, Any]:
        """The same options as ``SidecarManager.start_session`` keyword arguments."""
        return {
            "cwd": str(self.work),
            "claude_config_dir": str(self.config_dir),
            "extra_env": {"IS_SANDBOX": "1"} if IS_ROOT else None,
        }


@dataclass
class CodexSetup:
    """A fake Responses API plus a ``CODEX_HOME`` whose config.toml points at it."""

    api: FakeResponses
    codex_home: Path
    work: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def query(
        self, prompt: str, session_id: str = "s1", provider_config: dict[str, Any] | None = None, **options: Any
    ) -> dict[str, Any]:
        """A first query carrying this setup's options (more options as wire keys)."""
        command = {
            "type": "query",
            "sessionId": session_id,
            "prompt": prompt,
            "cwd": str(self.work),
            "permissionMode": "bypassPermissions",
            "providerConfig": {"codexHome": str(self.codex_home), **(provider_config or {})},
        }
        command.update(options)
        return command

    def session_kwargs(self) -> dict[str, Any]:
        """The same options as ``SidecarManager.start_session`` keyword arguments."""
        return {"cwd": str(self.work), "provider_config": {"codexHome": str(self.codex_home)}}


@pytest.fixture
def claude_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClaudeSetup]:
    """A started fake Anthropic API and a config dir for it (no retries)."""
    stripped_env(monkeypatch)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    with FakeAnthropic() as api:
        config_dir = realcli.write_claude_config(tmp_path / "claude-config", api.base_url, max_retries=0)
        env = {"HOME": str(home)}
        if IS_ROOT:  # what a user on a sandboxed root machine passes as extra_env
            env["IS_SANDBOX"] = "1"
        yield ClaudeSetup(api, config_dir, work, home, env)
    assert_no_process_in(work)


@pytest.fixture
def codex_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CodexSetup]:
    """A started fake Responses API and a CODEX_HOME for it (no retries)."""
    stripped_env(monkeypatch)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    with FakeResponses() as api:
        codex_home = realcli.write_codex_home(tmp_path / "codex-home", api.base_url, retries=0)
        yield CodexSetup(api, codex_home, work, home, {"HOME": str(home)})
    assert_no_process_in(work)


class CliRunner(RunnerClient):
    """A :class:`RunnerClient` for the claude/codex runners that can check for leftovers."""

    def tree(self) -> set[int]:
        """Pids of every live process below the runner right now."""
        return descendants(self.pid)

    def turn(self, command: dict[str, Any], timeout: float = 30.0) -> list[Any]:
        """Send a query and read its lines through ``agent_stopped`` / ``agent_error``."""
        self.send(command)
        return self.read_turn(timeout)


@pytest.fixture
def cli_runner() -> Iterator[Callable[..., CliRunner]]:
    """A factory ``cli_runner("claude", cli_path, env=...)`` -> a started :class:`CliRunner`.

    Each runner is killed (whole process group) and reaped at teardown, and the
    test fails if anything it started outlives that.
    """
    clients: list[CliRunner] = []

    def spawn(name: str, cli: str | None, *, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliRunner:
        argv = [sys.executable, "-m", f"sidecar_sync.runners.{name}"]
        if cli is not None:
            argv += ["--cli", cli]
        client = CliRunner(name, argv=argv, env=env, cwd=cwd)
        clients.append(client)
        return client.start()

    yield spawn
    leftovers = []
    for client in clients:
        below = client.tree()
        client.close()
        leftovers += sorted(wait_gone(below, timeout=5))
    assert not leftovers, f"processes outlived their runner: {leftovers}"
