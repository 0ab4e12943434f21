"""The claude runner's side of tool approval, over stdio, with the real Claude Code CLI and the fake API.

What a host sees on the wire: a ``permission_request`` line for the CLI's
``can_use_tool`` control request, answered with ``permission_response``; a
``permission_cancel`` when the CLI gives up waiting (here: on ``stop``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fakes import anthropic as fa
from tests.runners.cli_fixtures import ClaudeSetup, CliRunner
from tests.runners.client import events, types

pytestmark = pytest.mark.timeout(90)


def _ask_query(setup: ClaudeSetup, prompt: str = "write it") -> dict[str, object]:
    return setup.query(prompt, permissionMode="default", permissionPrompt=True)


def test_a_tool_request_becomes_a_permission_request_and_the_answer_reaches_the_cli(
    claude_cli: str, claude_setup: ClaudeSetup, cli_runner: Callable[..., CliRunner]
) -> None:
    target = claude_setup.work / "out.txt"
    call = fa.tool_call("Write", {"file_path": str(target), "content": "asked\n"})
    claude_setup.api.script(call, fa.answer_with_tool_result())
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    runner.send(_ask_query(claude_setup))
    lines = runner.read_until("permission_request")
    request = lines[-1]
    assert types(lines)[0] == "agent_started"
    tool_use = events(lines)[-1]["message"]["content"][0]  # the tool call came first
    assert tool_use["type"] == "tool_use"
    assert set(request) == {"type", "requestId", "toolName", "input", "toolUseId", "suggestions", "raw"}
    assert request["toolName"] == "Write"
    assert request["input"] == {"file_path": str(target), "content": "asked\n"}
    assert request["toolUseId"] == tool_use["id"]
    assert request["raw"]["type"] == "control_request"
    assert request["raw"]["request_id"] == request["requestId"]

    runner.send({
        "type": "permission_response", "requestId": request["requestId"], "behavior": "allow",
        "updatedInput": {"file_path": str(target), "content": "approved\n"},
    })  # fmt: skip
    rest = runner.read_turn()
    assert types(rest)[-1] == "agent_stopped"
    assert target.read_text() == "approved\n"
    # the CLI's control lines stay between the runner and the CLI
    assert not any(e.get("type", "").startswith("control_") for e in events(lines + rest))


def test_a_denial_reaches_the_model_and_a_late_answer_is_ignored(
    claude_cli: str, claude_setup: ClaudeSetup, cli_runner: Callable[..., CliRunner]
) -> None:
    target = claude_setup.work / "out.txt"
    claude_setup.api.script(fa.tool_call("Write", {"file_path": str(target), "content": "x"}), fa.text("ok"))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    runner.send(_ask_query(claude_setup))
    request = runner.read_until("permission_request")[-1]
    runner.send({"type": "permission_response", "requestId": request["requestId"], "behavior": "deny",
                 "message": "not in this folder"})  # fmt: skip
    runner.send({"type": "permission_response", "requestId": request["requestId"], "behavior": "allow"})
    rest = runner.read_turn()
    assert types(rest)[-1] == "agent_stopped"
    assert not target.exists()
    results = [e for e in events(rest) if e["type"] == "user"]
    assert "not in this folder" in str(results[0]["message"]["content"])
    # the second answer found nothing waiting: no complaint, the next turn runs as usual
    claude_setup.api.script(fa.text("still here"))
    runner.send({"type": "query", "sessionId": "s1", "prompt": "again"})
    assert types(runner.read_turn())[-1] == "agent_stopped"


def test_stop_while_a_request_waits_withdraws_it_and_ends_the_turn(
    claude_cli: str, claude_setup: ClaudeSetup, cli_runner: Callable[..., CliRunner]
) -> None:
    target = claude_setup.work / "out.txt"
    claude_setup.api.script(fa.tool_call("Write", {"file_path": str(target), "content": "x"}))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    runner.send(_ask_query(claude_setup))
    request = runner.read_until("permission_request")[-1]
    runner.send({"type": "stop", "sessionId": "s1"})
    rest = runner.read_all(timeout=15)
    assert {"type": "permission_cancel", "requestId": request["requestId"]} in rest
    assert types(rest)[-1] == "agent_stopped"
    assert runner.wait() == 0
    assert not target.exists()


def test_without_permission_prompt_the_cli_is_not_asked_to_ask(
    claude_cli: str, claude_setup: ClaudeSetup, cli_runner: Callable[..., CliRunner]
) -> None:
    """No permissionPrompt: the CLI denies by itself what its mode does not allow, as before."""
    target = claude_setup.work / "out.txt"
    claude_setup.api.script(fa.tool_call("Write", {"file_path": str(target), "content": "x"}), fa.text("ok"))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    lines = runner.turn(claude_setup.query("write it", permissionMode="default"))
    assert "permission_request" not in types(lines)
    assert types(lines)[-1] == "agent_stopped"
    assert not target.exists()
