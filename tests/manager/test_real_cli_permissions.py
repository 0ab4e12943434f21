"""``on_permission`` with the real Claude Code CLI (pinned npm install) against the fake Messages API, offline.

The fake model asks for a tool; the CLI, run with ``--permission-prompt-tool stdio``
in the ``default`` permission mode, asks the runner (a ``can_use_tool`` control
request), the runner asks the manager, and the callback decides. Files outside the
session's working directory need approval even to be read, so a Read of one and a
Read of a file inside it make a turn where one tool waits while the other runs.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sidecar_sync import Allow, Deny, PermissionRequest, SidecarManager
from tests.fakes import anthropic as fa
from tests.manager.conftest import Recorder
from tests.runners.cli_fixtures import ClaudeSetup, claude_cli, claude_setup  # noqa: F401

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

TIMEOUT = 60.0


@pytest.fixture
def claude(
    claude_setup: ClaudeSetup, claude_cli: str, make_manager: Callable[..., SidecarManager]  # noqa: F811
) -> SidecarManager:
    """A manager for the real CLI; set up after ``claude_setup``, so shut down before it checks for leftovers."""
    return make_manager(claude_path=claude_cli, stop_grace=3.0)


def _start(
    manager: SidecarManager, setup: ClaudeSetup, on_permission: Any, recorder: Recorder, **kwargs: Any
) -> None:
    options = setup.session_kwargs()
    options["extra_env"] = None  # the default mode needs no IS_SANDBOX, even as root
    manager.start_session(
        "c", "claude", "use the tool", on_permission=on_permission, on_message=recorder.on_message,
        on_status=recorder.on_status, **options, **kwargs,
    )  # fmt: skip


def _write_call(setup: ClaudeSetup, content: str = "hello\n") -> tuple[Path, fa.Reply]:
    target = setup.work / "out.txt"
    return target, fa.tool_call("Write", {"file_path": str(target), "content": content})


def _tool_result(recorder: Recorder) -> Any:
    [result] = recorder.of_type("tool_result")
    return result.content


def test_deny_keeps_the_file_unwritten_and_the_turn_completes(
    claude: SidecarManager, claude_setup: ClaudeSetup  # noqa: F811
) -> None:
    target, call = _write_call(claude_setup)
    claude_setup.api.script(call, fa.answer_with_tool_result("Tool said: {}"))
    asked: queue.Queue[PermissionRequest] = queue.Queue()

    def on_permission(session_id: str, request: PermissionRequest) -> Deny:
        asked.put(request)
        return Deny("writes are not allowed in this review")

    recorder = Recorder()
    _start(claude, claude_setup, on_permission, recorder)
    state = claude.wait("c", timeout=TIMEOUT)

    assert state.status == "idle", state.error
    assert [t.outcome for t in state.turns] == ["success"]
    assert not target.exists()
    request = asked.get(timeout=1)
    assert request.tool_name == "Write"
    assert request.input == {"file_path": str(target), "content": "hello\n"}
    [tool_call] = recorder.of_type("tool_call")
    assert request.tool_use_id == tool_call.content.tool_use_id
    assert isinstance(request.suggestions, list)
    assert request.raw is not None and request.raw["request"]["subtype"] == "can_use_tool"
    result = _tool_result(recorder)
    assert result.is_error and "writes are not allowed in this review" in str(result.output)
    # the model was told, in the tool result of its next call
    assert "writes are not allowed in this review" in recorder.texts[-1]


def test_allow_lets_the_tool_run(claude: SidecarManager, claude_setup: ClaudeSetup) -> None:  # noqa: F811
    target, call = _write_call(claude_setup)
    claude_setup.api.script(call, fa.answer_with_tool_result())
    recorder = Recorder()
    _start(claude, claude_setup, lambda session_id, request: True, recorder)
    state = claude.wait("c", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    assert target.read_text() == "hello\n"
    assert not _tool_result(recorder).is_error


def test_allow_with_updated_input_changes_what_runs(
    claude: SidecarManager, claude_setup: ClaudeSetup  # noqa: F811
) -> None:
    target, call = _write_call(claude_setup, "what the model wrote\n")
    elsewhere = claude_setup.work / "reviewed.txt"
    claude_setup.api.script(call, fa.answer_with_tool_result())

    def on_permission(session_id: str, request: PermissionRequest) -> Allow:
        return Allow(updated_input={"file_path": str(elsewhere), "content": "what the reviewer allowed\n"})

    recorder = Recorder()
    _start(claude, claude_setup, on_permission, recorder)
    assert claude.wait("c", timeout=TIMEOUT).status == "idle"
    assert not target.exists()
    assert elsewhere.read_text() == "what the reviewer allowed\n"


def test_a_slow_callback_does_not_stall_the_stream(
    claude: SidecarManager, claude_setup: ClaudeSetup, tmp_path: Path  # noqa: F811
) -> None:
    """One Read waits for approval while the other runs: its result arrives before the callback returns."""
    outside = tmp_path / "outside.txt"
    outside.write_text("outside secret\n")
    inside = claude_setup.work / "inside.txt"
    inside.write_text("inside notes\n")
    claude_setup.api.script(
        fa.Reply([fa.ToolUse("Read", {"file_path": str(outside)}), fa.ToolUse("Read", {"file_path": str(inside)})]),
        fa.text("read both"),
    )
    inside_read = threading.Event()
    results_seen_in_callback: list[bool] = []
    asked: list[str] = []

    def on_message(session_id: str, messages: list[Any]) -> None:
        recorder.on_message(session_id, messages)
        if any(m.type == "tool_result" and "inside notes" in str(m.content.output) for m in messages):
            inside_read.set()

    def on_permission(session_id: str, request: PermissionRequest) -> bool:
        asked.append(request.input["file_path"])
        # Were the callback on the stdout thread, the other Read's result could not arrive first.
        results_seen_in_callback.append(inside_read.wait(TIMEOUT))
        return True

    recorder = Recorder()
    options = claude_setup.session_kwargs()
    options["extra_env"] = None
    claude.start_session(
        "c", "claude", "read them", on_permission=on_permission, on_message=on_message, **options
    )
    state = claude.wait("c", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    assert asked == [str(outside)]  # inside the working directory needs no approval
    assert results_seen_in_callback == [True]
    outputs = [str(m.content.output) for m in recorder.of_type("tool_result")]
    assert any("outside secret" in o for o in outputs)


def test_a_stop_while_a_request_is_pending_ends_the_turn(
    claude: SidecarManager, claude_setup: ClaudeSetup  # noqa: F811
) -> None:
    target, call = _write_call(claude_setup)
    claude_setup.api.script(call, fa.answer_with_tool_result())
    entered, release = threading.Event(), threading.Event()
    returned = threading.Event()

    def on_permission(session_id: str, request: PermissionRequest) -> bool:
        entered.set()
        release.wait(TIMEOUT)
        returned.set()
        return True

    recorder = Recorder()
    _start(claude, claude_setup, on_permission, recorder)
    assert entered.wait(TIMEOUT)
    claude.stop_session("c")
    recorder.wait_final(TIMEOUT)
    state = claude.get_session("c")
    assert state.status == "done", state.error
    assert [t.outcome for t in state.turns] == ["cancelled"]
    assert not returned.is_set()  # the turn ended while the callback still waited
    release.set()
    assert returned.wait(TIMEOUT)
    assert not target.exists()  # its late "allow" changed nothing


def test_a_callback_that_raises_denies(
    claude: SidecarManager, claude_setup: ClaudeSetup, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    target, call = _write_call(claude_setup)
    claude_setup.api.script(call, fa.answer_with_tool_result())

    def on_permission(session_id: str, request: PermissionRequest) -> bool:
        raise RuntimeError("policy service unreachable")

    recorder = Recorder()
    with caplog.at_level(logging.ERROR, logger="sidecar_sync"):
        _start(claude, claude_setup, on_permission, recorder)
        state = claude.wait("c", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    assert not target.exists()
    assert _tool_result(recorder).is_error
    assert any("raised; denied" in r.getMessage() for r in caplog.records)


def test_permission_timeout_denies(claude: SidecarManager, claude_setup: ClaudeSetup) -> None:  # noqa: F811
    target, call = _write_call(claude_setup)
    claude_setup.api.script(call, fa.answer_with_tool_result())
    release = threading.Event()
    returned = threading.Event()

    def on_permission(session_id: str, request: PermissionRequest) -> bool:
        release.wait(TIMEOUT)  # nobody answers in time
        returned.set()
        return True

    recorder = Recorder()
    _start(claude, claude_setup, on_permission, recorder, permission_timeout=0.5)
    state = claude.wait("c", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    assert not target.exists()
    result = _tool_result(recorder)
    assert result.is_error and "permission timeout" in str(result.output)
    release.set()
    assert returned.wait(TIMEOUT)


def test_ask_user_question_is_answered_in_updated_input(
    claude: SidecarManager, claude_setup: ClaudeSetup  # noqa: F811
) -> None:
    question = {
        "question": "Which colour?",
        "header": "Colour",
        "options": [{"label": "red", "description": "warm"}, {"label": "blue", "description": "cool"}],
        "multiSelect": False,
    }
    claude_setup.api.script(fa.tool_call("AskUserQuestion", {"questions": [question]}), fa.answer_with_tool_result())

    def on_permission(session_id: str, request: PermissionRequest) -> Allow:
        assert request.tool_name == "AskUserQuestion"
        [asked] = request.input["questions"]
        return Allow({**request.input, "answers": {asked["question"]: "blue"}})

    recorder = Recorder()
    _start(claude, claude_setup, on_permission, recorder)
    assert claude.wait("c", timeout=TIMEOUT).status == "idle"
    output = str(_tool_result(recorder).output)
    assert "Which colour?" in output and "blue" in output
