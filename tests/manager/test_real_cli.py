"""The manager driving the real Claude Code and Codex CLIs (pinned npm installs) against fake APIs, offline.

The parent environment carries provider credentials that must never reach the CLI:
the manager strips them, so the CLI authenticates only through its own config.
"""

from __future__ import annotations

import pytest

from tests import realcli
from tests.fakes import anthropic as fa
from tests.fakes import openai_responses as fr
from tests.manager.conftest import Recorder
from tests.runners.cli_fixtures import claude_cli, claude_setup, codex_cli, codex_setup  # noqa: F401

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

TIMEOUT = 60.0


def test_claude_session_through_the_manager(
    make_manager, claude_cli, claude_setup, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001, F811
) -> None:
    monkeypatch.setenv("HOME", str(claude_setup.home))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "parent-secret-must-not-leak")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/never-used")
    claude_setup.api.script(fa.text("Hello from the fake model"), fa.text("Second answer"))
    manager = make_manager(claude_path=claude_cli, stop_grace=3.0)
    recorder = Recorder()
    manager.start_session(
        "c", "claude", "say hi", on_message=recorder.on_message, on_status=recorder.on_status,
        **claude_setup.session_kwargs(),
    )
    state = manager.wait("c", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    assert [m.type for m in recorder.messages] == ["init", "text", "cost"]
    assert recorder.texts == ["Hello from the fake model"]
    assert recorder.messages[0].content.cwd == str(claude_setup.work)

    manager.write_prompt("c", "again")
    state = manager.wait("c", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    assert recorder.texts == ["Hello from the fake model", "Second answer"]
    assert state.input_tokens > 0 and state.output_tokens > 0

    # the parent's key never reached the CLI: it used the config dir's key helper
    requests = claude_setup.api.requests
    assert len(requests) == 2
    assert all(r.headers["x-api-key"] == "fake-key-from-helper" for r in requests)

    manager.stop_session("c")
    recorder.wait_final(TIMEOUT)
    assert manager.get_session("c").status == "done"


def test_codex_session_through_the_manager(
    make_manager, codex_cli, codex_setup, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001, F811
) -> None:
    monkeypatch.setenv("HOME", str(codex_setup.home))
    monkeypatch.setenv("CODEX_HOME", "/nonexistent/parent-codex-home")
    codex_setup.api.script(fr.text("Hello from fake codex"))
    manager = make_manager(codex_path=codex_cli, stop_grace=3.0)
    recorder = Recorder()
    manager.start_session(
        "x", "codex", "say hi", on_message=recorder.on_message, on_status=recorder.on_status,
        **codex_setup.session_kwargs(),
    )
    state = manager.wait("x", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    kinds = [m.type for m in recorder.messages]
    assert kinds[0] == "init" and kinds[-1] == "cost", kinds
    assert "Hello from fake codex" in recorder.texts
    assert state.input_tokens > 0
    # from `codex --version` (codex-cli 0.169.0), added to thread.started by the runner
    assert state.agent_version is not None and state.agent_version.startswith("Codex ")
    assert state.agent_version == f"Codex {realcli.CODEX.version}"
    manager.stop_session("x")
    recorder.wait_final(TIMEOUT)
    assert manager.get_session("x").status == "done"
