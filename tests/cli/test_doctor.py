"""``sidecar-sync doctor`` as a subprocess, with fake CLIs on PATH and a fake Ollama."""

from __future__ import annotations

import platform
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync import framer
from tests.cli.conftest import cli, cli_env
from tests.fakes import closed_port
from tests.fakes.ollama import VERSION, FakeOllama


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH and HOME hold no agent CLI."""
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return cli_env(PATH=f"{bin_dir}:/usr/bin:/bin", HOME=str(home))


def checks(done: subprocess.CompletedProcess[bytes]) -> dict[str, dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return {c["name"]: c for c in orjson.loads(done.stdout)}


def test_report_on_a_bare_machine(bare_env: dict[str, str]) -> None:
    port = closed_port()
    done = cli("doctor", "--ollama-host", f"http://127.0.0.1:{port}", env=bare_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert f"ok       framer: {'C framer' if framer.BACKEND == 'c' else ''}" in out
    assert (
        f"CPython {platform.python_version()}" in out
        or platform.python_implementation() in out
    )
    assert f"ok       orjson: {orjson.__version__}" in out
    assert "missing  claude CLI: Claude Code CLI not found" in out
    assert "npm install -g @anthropic-ai/claude-code" in out
    assert "missing  codex CLI" in out and "npm install -g @openai/codex" in out
    assert f"missing  ollama: not reachable at http://127.0.0.1:{port}" in out
    assert "Everything required is in place" in out
    assert "Optional, not available: claude CLI, codex CLI, ollama" in out


def test_found_clis_and_ollama(bare_env: dict[str, str], tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _script(bin_dir / "claude", 'echo "2.1.330 (Claude Code)"')
    _script(bin_dir / "codex", "exit 3")
    with FakeOllama() as fake:
        data = checks(cli("doctor", "--json", "--ollama-host", fake.url, env=bare_env))
    assert data["claude CLI"]["state"] == "ok"
    assert (
        data["claude CLI"]["detail"] == f"2.1.330 (Claude Code) ({bin_dir / 'claude'})"
    )
    assert (
        data["codex CLI"]["state"] == "warn"
        and "does not answer --version" in data["codex CLI"]["detail"]
    )
    assert data["ollama"]["state"] == "ok" and VERSION in data["ollama"]["detail"]
    assert data["framer"]["required"] is True and data["ollama"]["required"] is False
    assert data["echo runner"]["state"] == "ok"


def test_host_without_scheme(bare_env: dict[str, str]) -> None:
    with FakeOllama() as fake:
        host = fake.url.split("://", 1)[1]
        data = checks(cli("doctor", "--json", "--ollama-host", host, env=bare_env))
    assert data["ollama"]["state"] == "ok"


@pytest.mark.parametrize(
    "host", ["ftp://127.0.0.1:1", "http://127.0.0.1:notaport", "http://"]
)
def test_bad_host_is_reported_not_fatal(bare_env: dict[str, str], host: str) -> None:
    data = checks(cli("doctor", "--json", "--ollama-host", host, env=bare_env))
    assert data["ollama"]["state"] == "error"


def test_something_else_on_the_port(bare_env: dict[str, str]) -> None:
    # a listener that closes at once: not Ollama
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        server.settimeout(5)
        import threading

        def accept_and_close() -> None:
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                pass

        thread = threading.Thread(
            target=accept_and_close, name="test-accept", daemon=True
        )
        thread.start()
        data = checks(
            cli("doctor", "--json", "--ollama-host", f"127.0.0.1:{port}", env=bare_env)
        )
        thread.join(timeout=10)
    assert data["ollama"]["state"] == "missing"


def test_a_framer_setting_the_library_refuses(bare_env: dict[str, str]) -> None:
    """A bad SIDECAR_SYNC_FRAMER is a failed required check, not a crash: exit 1."""
    env = {**bare_env, "SIDECAR_SYNC_FRAMER": "bogus"}
    port = closed_port()
    done = cli("doctor", "--ollama-host", f"127.0.0.1:{port}", env=env)
    assert done.returncode == 1
    assert b"Traceback" not in done.stderr
    out = done.stdout.decode()
    assert "  error    framer: SIDECAR_SYNC_FRAMER='bogus' is not one of" in out
    assert "-> unset SIDECAR_SYNC_FRAMER, or set it to auto, c or python" in out
    assert "1 required check(s) failed: framer.\n" in out
    data = {c["name"]: c for c in orjson.loads(cli("doctor", "--json", env=env).stdout)}
    assert data["framer"]["state"] == "error" and data["framer"]["required"] is True
