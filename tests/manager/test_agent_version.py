"""``SessionState.agent_version`` for the codex and ollama providers, live and replayed.

Codex: a stand-in CLI (``tests/runners/standin_codex.py``) whose ``--version``
answers, or hangs; the real CLI is in ``test_real_cli.py``. Ollama: the fake
server (``tests/fakes/ollama.py``), with and without ``/api/version``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sidecar_sync import Replay, SidecarManager
from sidecar_sync.runners._cli_version import VERSION_TIMEOUT
from tests.fakes.ollama import VERSION as FAKE_OLLAMA_VERSION
from tests.fakes.ollama import FakeOllama
from tests.manager.conftest import TIMEOUT, Recorder
from tests.manager.test_recording import lines_of
from tests.runners.standin_codex import write_standin_codex

pytestmark = pytest.mark.timeout(60)


def _two_turns(manager: SidecarManager, name: str, provider: str, **kwargs: Any) -> Any:
    manager.start_session(name, provider, "first", **kwargs)
    state = manager.wait(name, TIMEOUT)
    assert state.status == "idle", state.error
    manager.write_prompt(name, "second")
    state = manager.wait(name, TIMEOUT)
    assert state.status == "idle", state.error
    return state


def _replayed_version(manager: SidecarManager, path: Path) -> str | None:
    """The agent version of a replay-provider session playing ``path`` (both turns)."""
    manager.start_session("again", "replay", "x", provider_config={"transcript": str(path)})
    manager.wait("again", TIMEOUT)
    manager.write_prompt("again", "y")
    state = manager.wait("again", TIMEOUT)
    assert [turn.outcome for turn in state.turns] == ["success", "success"]
    return state.agent_version


def test_a_codex_session_reports_the_cli_version_and_its_recording_keeps_it(
    make_manager: Any, tmp_path: Path
) -> None:
    cli = write_standin_codex(tmp_path / "bin", "ok")
    manager = make_manager(codex_path=str(cli))
    path = tmp_path / "codex.jsonl"
    state = _two_turns(manager, "x", "codex", cwd=str(tmp_path), record=path)
    assert state.agent_version == "Codex 0.0.1-standin"
    manager.stop_session("x")
    assert manager.wait("x", TIMEOUT).status == "done"

    assert lines_of(path)[-1]["agent_version"] == "Codex 0.0.1-standin"
    inits = [m for m in Replay(path) if m.type == "init"]
    assert [m.content.agent_version for m in inits] == ["Codex 0.0.1-standin"] * 2
    assert _replayed_version(manager, path) == "Codex 0.0.1-standin"
    manager.shutdown()


def test_a_codex_cli_whose_version_hangs_gives_none_within_the_bound(make_manager: Any, tmp_path: Path) -> None:
    cli = write_standin_codex(tmp_path / "bin", "hang")
    manager = make_manager(codex_path=str(cli))
    recorder = Recorder()
    began = time.monotonic()
    manager.start_session("x", "codex", "hi", cwd=str(tmp_path), on_message=recorder.on_message)
    state = manager.wait("x", TIMEOUT)
    assert time.monotonic() - began < VERSION_TIMEOUT + 5.0
    assert state.status == "idle", state.error
    assert state.agent_version is None
    assert recorder.texts == ["standin: hi"]
    manager.shutdown()


def test_an_ollama_session_reports_the_server_version_and_its_recording_keeps_it(
    manager: SidecarManager, tmp_path: Path
) -> None:
    path = tmp_path / "ollama.jsonl.gz"
    with FakeOllama() as fake:
        state = _two_turns(manager, "o", "ollama", provider_config={"host": fake.url}, record=path)
        assert state.agent_version == f"Ollama {FAKE_OLLAMA_VERSION}"
        manager.stop_session("o")
        assert manager.wait("o", TIMEOUT).status == "done"
    assert _replayed_version(manager, path) == f"Ollama {FAKE_OLLAMA_VERSION}"


def test_an_ollama_server_without_api_version_gives_none(manager: SidecarManager) -> None:
    with FakeOllama() as fake:
        fake.set_version_status(404)
        state = _two_turns(manager, "o", "ollama", provider_config={"host": fake.url})
        assert state.agent_version is None
        assert [turn.outcome for turn in state.turns] == ["success", "success"]
        assert len(fake.chats) == 2
        manager.stop_session("o")
        manager.wait("o", TIMEOUT)
