"""Harness controls with the real Claude Code and Codex CLIs against fake model servers, offline:
turn outcomes from what the CLIs really print, an idle timeout on a slow reply, and a real
session recorded and replayed to the same messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync import Replay
from tests import realcli
from tests.fakes import anthropic as fa
from tests.fakes import openai_responses as fr
from tests.manager.conftest import Recorder
from tests.runners.cli_fixtures import claude_cli, claude_setup, codex_cli, codex_setup  # noqa: F401

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

TIMEOUT = 60.0


def shape(messages: list[Any]) -> list[tuple[Any, ...]]:
    return [(m.type, m.parent_id, orjson.dumps(m.to_dict()["content"])) for m in messages]


def test_claude_api_403_is_an_api_error_turn(make_manager, claude_cli, claude_setup, monkeypatch) -> None:  # noqa: ANN001, F811
    monkeypatch.setenv("HOME", str(claude_setup.home))
    claude_setup.api.default = fa.api_error(403, "Your organization does not have access")  # retried alike
    manager = make_manager(claude_path=claude_cli, stop_grace=3.0)
    manager.start_session("c", "claude", "hi", **claude_setup.session_kwargs())
    state = manager.wait("c", timeout=TIMEOUT)
    assert state.status == "error" and not state.finished, state.error  # the turn failed; the CLI lives on
    (turn,) = state.turns
    assert turn.outcome == "api_error", turn
    assert "403" in (turn.error or "") or "access" in (turn.error or "")
    claude_setup.api.default = fa.text("later answer")
    manager.write_prompt("c", "again")
    state = manager.wait("c", timeout=TIMEOUT)
    assert [t.outcome for t in state.turns] == ["api_error", "success"]
    assert state.agent_version is not None and state.agent_version.startswith("Claude Code ")
    manager.shutdown()  # before the fixtures check that nothing runs in the work dir


def test_a_slow_claude_reply_hits_the_idle_timeout(make_manager, claude_cli, claude_setup, monkeypatch) -> None:  # noqa: ANN001, F811
    monkeypatch.setenv("HOME", str(claude_setup.home))
    claude_setup.api.script(fa.slow_text("a very slow answer", pieces=10, delay=2.0))
    manager = make_manager(claude_path=claude_cli, stop_grace=3.0)
    manager.start_session("c", "claude", "hi", idle_timeout=1.5, **claude_setup.session_kwargs())
    state = manager.wait("c", timeout=TIMEOUT)
    assert state.finished and state.status == "error"
    assert (state.error or "").startswith("idle_timeout=1.5 s exceeded")
    assert [t.outcome for t in state.turns] == ["idle_timeout"]
    manager.shutdown()


def test_a_real_claude_session_recorded_replays_to_the_same_messages(
    make_manager, claude_cli, claude_setup, monkeypatch, tmp_path: Path  # noqa: ANN001, F811
) -> None:
    monkeypatch.setenv("HOME", str(claude_setup.home))
    claude_setup.api.script(fa.tool_call("Bash", {"command": "echo hi"}), fa.answer_with_tool_result(), fa.text("bye"))
    manager = make_manager(claude_path=claude_cli, stop_grace=3.0)
    path = tmp_path / "claude.jsonl.gz"
    live = Recorder()
    manager.start_session("c", "claude", "run it", record=path, on_message=live.on_message,
                          **claude_setup.session_kwargs())  # fmt: skip
    manager.wait("c", timeout=TIMEOUT)
    manager.write_prompt("c", "and finish")
    manager.wait("c", timeout=TIMEOUT)
    manager.stop_session("c")
    state = manager.wait("c", timeout=TIMEOUT)
    assert state.status == "done"
    assert {"tool_call", "tool_result", "text", "cost"} <= {m.type for m in live.messages}
    assert shape(list(Replay(path))) == shape(live.messages)
    again = Recorder()
    manager.start_session("r", "replay", "x", provider_config={"transcript": str(path)}, on_message=again.on_message)
    manager.wait("r", timeout=TIMEOUT)
    manager.write_prompt("r", "y")
    manager.wait("r", timeout=TIMEOUT)
    assert shape(again.messages) == shape(live.messages)
    manager.shutdown()


def test_a_codex_stream_that_breaks_once_then_completes_is_a_success(
    make_manager, codex_cli, codex_setup, monkeypatch, tmp_path: Path  # noqa: ANN001, F811
) -> None:
    monkeypatch.setenv("HOME", str(codex_setup.home))
    home = realcli.write_codex_home(tmp_path / "codex-retry", codex_setup.api.base_url, retries=2)
    codex_setup.api.script(fr.Reply([fr.Message("cut short")], cut_after=2), fr.text("made it"))
    manager = make_manager(codex_path=codex_cli, stop_grace=3.0)
    recorder = Recorder()
    manager.start_session("x", "codex", "hi", cwd=str(codex_setup.work), provider_config={"codexHome": str(home)},
                          on_message=recorder.on_message)  # fmt: skip
    state = manager.wait("x", timeout=TIMEOUT)
    errors = [m.content.message for m in recorder.of_type("error")]
    assert any(e.startswith("Reconnecting...") for e in errors), errors  # the CLI saw the break and retried
    assert state.status == "idle", state.error
    assert [t.outcome for t in state.turns] == ["success"]
    assert "made it" in recorder.texts
    manager.shutdown()


def test_a_codex_api_error_is_an_api_error_turn(make_manager, codex_cli, codex_setup, monkeypatch) -> None:  # noqa: ANN001, F811
    monkeypatch.setenv("HOME", str(codex_setup.home))
    codex_setup.api.default = fr.api_error(401, "bad key")
    manager = make_manager(codex_path=codex_cli, stop_grace=3.0)
    manager.start_session("x", "codex", "hi", **codex_setup.session_kwargs())
    state = manager.wait("x", timeout=TIMEOUT)
    assert state.status == "error"
    assert [t.outcome for t in state.turns] == ["api_error"], state.turns
    manager.shutdown()
