"""The claude runner driving the real Claude Code CLI against a fake Messages API, offline.

Each test starts ``python -m sidecar_sync.runners.claude --cli <real claude>`` over
stdio, with an environment stripped like the manager strips it: the CLI is
configured only through its config dir (settings.json env block + apiKeyHelper).
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests._proc import is_alive, wait_gone
from tests.fakes import anthropic as fa
from tests.runners.cli_fixtures import IS_ROOT, assert_no_process_in, cmdline, processes_in
from tests.runners.client import events, types

pytestmark = pytest.mark.timeout(90)


def _ok_turn(lines: list) -> list[dict]:
    assert types(lines)[0] == "agent_started", lines
    assert types(lines)[-1] == "agent_stopped", lines
    return events(lines)


def _result(evs: list[dict]) -> dict:
    results = [e for e in evs if e.get("type") == "result"]
    assert len(results) == 1, evs
    return results[0]


def test_plain_turn(claude_cli, claude_setup, cli_runner):
    """A query becomes one CLI turn: init, the assistant text, the result; configured only by the config dir."""
    claude_setup.api.script(fa.text("Hello from the fake model"))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    evs = _ok_turn(runner.turn(claude_setup.query("say hi")))

    assert [e["type"] for e in evs] == ["system", "assistant", "result"]
    init = evs[0]
    assert init["subtype"] == "init"
    assert init["cwd"] == str(claude_setup.work)
    assert init["apiKeySource"] == "apiKeyHelper"
    assert init["permissionMode"] == "bypassPermissions"
    assert evs[1]["message"]["content"] == [{"type": "text", "text": "Hello from the fake model"}]
    result = _result(evs)
    assert result["is_error"] is False and result["result"] == "Hello from the fake model"

    # exactly one model call, nothing else, with the helper's key
    requests = claude_setup.api.requests
    assert [(r.method, r.path, r.query) for r in requests] == [("POST", "/v1/messages", "beta=true")]
    assert requests[0].headers["x-api-key"] == "fake-key-from-helper"
    assert fa.last_user_text(requests[0].json()) == "say hi"


def test_thinking_and_large_prompt(claude_cli, claude_setup, cli_runner):
    """A 300 KB prompt reaches the model intact (stdin, not argv); a thinking block is forwarded."""
    prompt = "-start " + "word " * 60_000 + "END"
    claude_setup.api.script(fa.Reply([fa.Thinking("let me think"), fa.Text("thought about it")]))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    evs = _ok_turn(runner.turn(claude_setup.query(prompt)))

    blocks = [b for e in evs if e["type"] == "assistant" for b in e["message"]["content"]]
    assert blocks == [
        {"type": "thinking", "thinking": "let me think", "signature": "fake-signature"},
        {"type": "text", "text": "thought about it"},
    ]
    assert fa.last_user_text(claude_setup.api.model_requests()[0].json()) == prompt


@pytest.mark.parametrize("tool", ["bash", "read"])
def test_tool_call_runs_in_the_cli(claude_cli, claude_setup, cli_runner, tool):
    """The fake model asks for a tool; the real CLI runs it and the model answers from its result."""
    if tool == "bash":
        call = fa.tool_call("Bash", {"command": "echo tool-output-$((40+2))", "description": "echo"})
        expected = "tool-output-42"
    else:
        target = claude_setup.work / "notes.txt"
        target.write_text("the secret is 1234\n")
        call = fa.tool_call("Read", {"file_path": str(target)})
        expected = "the secret is 1234"
    claude_setup.api.script(call, fa.answer_with_tool_result("Tool said: {}"))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    evs = _ok_turn(runner.turn(claude_setup.query("use the tool")))

    kinds = [e["type"] for e in evs]
    assert kinds == ["system", "assistant", "user", "assistant", "result"], kinds
    tool_result = evs[2]["message"]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result.get("is_error") is not True
    assert expected in json.dumps(tool_result["content"])
    assert expected in _result(evs)["result"]
    second = claude_setup.api.model_requests()[1].json()
    assert expected in json.dumps(fa.tool_results(second))


def test_follow_up_continues_the_conversation_in_the_same_cli(claude_cli, claude_setup, cli_runner):
    """A follow-up query goes to the same CLI process, which sends the whole history."""
    claude_setup.api.script(fa.text("first answer"), fa.text("second answer"))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    first = _ok_turn(runner.turn(claude_setup.query("first question")))
    cli_pids = runner.tree()
    second = _ok_turn(runner.turn({"type": "query", "sessionId": "s1", "prompt": "second question"}))

    assert runner.tree() == cli_pids  # no new CLI process for the follow-up
    assert first[0]["session_id"] == second[0]["session_id"]
    assert _result(second)["result"] == "second answer"
    history = json.dumps(claude_setup.api.model_requests()[1].json()["messages"])
    for text in ("first question", "first answer", "second question"):
        assert text in history

    runner.send({"type": "stop", "sessionId": "s1"})  # stop while idle: the CLI exits with the runner
    assert runner.read_all(timeout=10) == []
    assert runner.wait(10) == 0
    assert not wait_gone(cli_pids, timeout=5)


def test_queued_follow_ups_run_in_order(claude_cli, claude_setup, cli_runner):
    """Queries sent while a turn runs are queued and answered one turn each, in order."""
    claude_setup.api.script(fa.text("one"), fa.text("two"), fa.text("three"))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    runner.send(claude_setup.query("q1"))
    runner.send({"type": "query", "sessionId": "s1", "prompt": "q2"})
    runner.send({"type": "query", "sessionId": "s1", "prompt": "q3"})
    answers = [_result(_ok_turn(runner.read_turn(30)))["result"] for _ in range(3)]

    assert answers == ["one", "two", "three"]
    prompts = [fa.last_user_text(r.json()) for r in claude_setup.api.model_requests()]
    assert prompts == ["q1", "q2", "q3"]


def test_stop_interrupts_a_slow_turn_and_leaves_no_process(claude_cli, claude_setup, cli_runner):
    """stop in the middle of a slow stream: the turn ends with agent_stopped, the runner and CLI exit."""
    claude_setup.api.script(fa.slow_text("x" * 200, pieces=200, delay=0.05))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)
    runner.send(claude_setup.query("take your time"))
    assert runner.read()["type"] == "agent_started"
    claude_setup.api.wait_for_events(5)  # the model is streaming
    below = runner.tree()
    assert below, "the CLI should be running"
    assert set(processes_in(claude_setup.work)) & below  # the leftover check can see the CLI

    runner.send({"type": "stop", "sessionId": "s1"})
    rest = runner.read_all(timeout=10)

    assert types(rest)[-1] == "agent_stopped", rest
    assert "agent_error" not in types(rest)
    result = _result(events(rest))
    assert result["is_error"] is True and result["subtype"] == "error_during_execution"
    assert runner.wait(10) == 0
    assert not wait_gone(below, timeout=5), "the CLI outlived its runner"
    assert_no_process_in(claude_setup.work)
    claude_setup.api.wait_for(lambda: claude_setup.api.disconnects >= 1, timeout=10)
    assert claude_setup.api.events_sent < 200  # the stream was cut short


@pytest.mark.parametrize("status", [401, 500])
def test_model_error_becomes_agent_error(claude_cli, claude_setup, cli_runner, status):
    """An HTTP error from the model API (retries bounded to 0) -> the result event, then agent_error."""
    claude_setup.api.default = fa.api_error(status, f"forced {status}")
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    lines = runner.turn(claude_setup.query("fail please"))

    assert types(lines)[-1] == "agent_error", lines
    message = lines[-1]["message"]
    assert f"HTTP {status}" in message and f"forced {status}" in message
    if status == 401:
        assert "apiKeyHelper" in message  # says where the key comes from
    result = _result(events(lines))
    assert result["is_error"] is True and result["api_error_status"] == status
    # CLAUDE_CODE_MAX_RETRIES=0 from settings.json: no backoff retries (a 401 is
    # still retried twice at once, after the CLI asks apiKeyHelper for a fresh key)
    assert len(claude_setup.api.model_requests()) == (3 if status == 401 else 1)

    # the session is still usable once the model recovers
    claude_setup.api.default = fa.text("recovered")
    evs = _ok_turn(runner.turn({"type": "query", "sessionId": "s1", "prompt": "again"}))
    assert _result(evs)["result"] == "recovered"


def test_cli_killed_between_turns_is_restarted_with_resume(claude_cli, claude_setup, cli_runner):
    """If the CLI dies while idle, the next query starts a new one resuming the same conversation."""
    claude_setup.api.script(fa.text("before the crash"), fa.text("after the crash"))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)
    first = _ok_turn(runner.turn(claude_setup.query("remember me")))
    crashed = runner.tree()
    for pid in crashed:
        os.kill(pid, signal.SIGKILL)
    assert not wait_gone(crashed, timeout=5)

    second = _ok_turn(runner.turn({"type": "query", "sessionId": "s1", "prompt": "still there?"}))

    assert runner.tree().isdisjoint(crashed)  # a new CLI process
    assert second[0]["session_id"] == first[0]["session_id"]
    assert "restarting it with --resume" in runner.stderr()
    history = json.dumps(claude_setup.api.model_requests()[-1].json()["messages"])
    assert "remember me" in history and "before the crash" in history


def test_resume_session_option(claude_cli, claude_setup, cli_runner):
    """resumeSessionId continues a conversation of an earlier runner (same config dir and cwd)."""
    claude_setup.api.script(fa.text("answer one"), fa.text("answer two"))
    first_runner = cli_runner("claude", claude_cli, env=claude_setup.env)
    session = _ok_turn(first_runner.turn(claude_setup.query("turn one")))[0]["session_id"]
    first_runner.close_stdin()
    assert first_runner.wait(10) == 0

    second_runner = cli_runner("claude", claude_cli, env=claude_setup.env)
    evs = _ok_turn(second_runner.turn(claude_setup.query("turn two", resumeSessionId=session)))

    assert evs[0]["session_id"] == session
    history = json.dumps(claude_setup.api.model_requests()[-1].json()["messages"])
    assert "turn one" in history and "answer one" in history


def test_session_options_reach_the_cli(claude_cli, claude_setup, cli_runner, tmp_path):
    """model, system prompt, permission mode and extra directories are passed to the CLI."""
    extra = tmp_path / "extra-dir"
    extra.mkdir()
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    evs = _ok_turn(
        runner.turn(
            claude_setup.query(
                "hi",
                model="claude-fake-model",
                systemPrompt="You are a unit test. -not-a-flag",
                permissionMode="acceptEdits",
                maxTurns=3,
                additionalDirectories=[str(extra)],
            )
        )
    )

    assert evs[0]["model"] == "claude-fake-model"
    assert evs[0]["permissionMode"] == "acceptEdits"
    body = claude_setup.api.model_requests()[0].json()
    assert body["model"] == "claude-fake-model"
    assert "You are a unit test. -not-a-flag" in json.dumps(body["system"])
    assert str(extra) in json.dumps(body)


def test_stdin_eof_mid_turn_ends_the_turn_and_the_cli(claude_cli, claude_setup, cli_runner):
    """stdin EOF (the host is gone) mid-stream: the turn is cut short, the CLI and the runner exit."""
    claude_setup.api.script(fa.slow_text("x" * 200, pieces=200, delay=0.05))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)
    runner.send(claude_setup.query("take your time"))
    assert runner.read()["type"] == "agent_started"
    claude_setup.api.wait_for_events(5)  # the model is streaming
    below = runner.tree()

    runner.close_stdin()
    rest = runner.read_all(timeout=10)

    assert types(rest)[-1] == "agent_stopped", rest
    assert runner.wait(10) == 0
    assert not wait_gone(below, timeout=5), "the CLI outlived its runner"
    assert_no_process_in(claude_setup.work)
    assert claude_setup.api.events_sent < 200  # the stream was cut short


def test_cli_that_exits_early_gives_its_stderr(claude_cli, claude_setup, cli_runner):
    """A CLI that refuses its flags and exits non-zero -> agent_error with its stderr lines."""
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    lines = runner.turn(claude_setup.query("hi", worktreeName="feature-1"))  # cwd is not a git repo

    assert types(lines) == ["agent_started", "agent_error"], lines
    message = lines[-1]["message"]
    assert "exited with code 1" in message and "git repository" in message
    assert claude_setup.api.requests == []


@pytest.mark.skipif(not IS_ROOT, reason="Claude Code refuses bypassPermissions only when run as root")
def test_root_bypass_refusal_explains_is_sandbox(claude_cli, claude_setup, cli_runner):
    """As root without IS_SANDBOX, the CLI refuses bypassPermissions; the error says what to do."""
    env = {k: v for k, v in claude_setup.env.items() if k != "IS_SANDBOX"}
    runner = cli_runner("claude", claude_cli, env=env)
    assert "IS_SANDBOX" not in os.environ

    lines = runner.turn(claude_setup.query("hi"))

    assert types(lines) == ["agent_started", "agent_error"], lines
    message = lines[-1]["message"]
    assert "root" in message and "IS_SANDBOX" in message


def test_missing_cli_is_a_clear_error(claude_setup, cli_runner, tmp_path):
    """An explicit --cli that does not exist -> agent_error naming where it looked."""
    missing = tmp_path / "no-such-claude"
    runner = cli_runner("claude", str(missing), env=claude_setup.env)

    lines = runner.turn(claude_setup.query("hi"))

    assert types(lines) == ["agent_started", "agent_error"], lines
    assert lines[-1]["message"] == f"Claude Code CLI not found; looked in: {missing}"
    assert not runner.tree()


def test_bad_option_is_reported_before_starting_the_cli(claude_cli, claude_setup, cli_runner, tmp_path):
    """A cwd that does not exist is refused with a clear message; no CLI is started."""
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)

    lines = runner.turn(claude_setup.query("hi", cwd=str(tmp_path / "nope")))

    assert types(lines) == ["agent_started", "agent_error"], lines
    assert "invalid option cwd" in lines[-1]["message"]
    assert not runner.tree()
    assert is_alive(runner.pid)


def test_stop_right_after_the_query(claude_cli, claude_setup, cli_runner):
    """stop while the CLI is still starting: the turn still ends promptly and nothing is left."""
    claude_setup.api.default = fa.slow_text("z" * 400, pieces=400, delay=0.05)
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)
    runner.send(claude_setup.query("long answer"))
    assert runner.read()["type"] == "agent_started"
    below = runner.tree()

    runner.send({"type": "stop", "sessionId": "s1"})
    rest = runner.read_all(timeout=10)

    assert types(rest)[-1] == "agent_stopped", rest
    assert runner.wait(10) == 0
    assert not wait_gone(below, timeout=5)
    assert_no_process_in(claude_setup.work)


def test_stop_during_a_tool_command_leaves_no_process(claude_cli, claude_setup, cli_runner):
    """stop while the CLI's Bash tool runs a long command: the command ends with the CLI and runner."""
    # (the CLI refuses a standalone `sleep`; `tail -f /dev/null` runs until killed)
    claude_setup.api.script(fa.tool_call("Bash", {"command": "tail -f /dev/null", "description": "wait"}))
    runner = cli_runner("claude", claude_cli, env=claude_setup.env)
    runner.send(claude_setup.query("wait a minute"))
    assert runner.read()["type"] == "agent_started"

    def sleeping() -> list[int]:
        return [p for p in processes_in(claude_setup.work) if b"tail" in cmdline(p)]

    claude_setup.api.wait_for_model_calls(1)
    deadline = time.monotonic() + 30
    while not sleeping() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sleeping(), "the Bash tool never started the command"

    runner.send({"type": "stop", "sessionId": "s1"})
    rest = runner.read_all(timeout=10)

    assert types(rest)[-1] == "agent_stopped", rest
    assert runner.wait(10) == 0
    assert_no_process_in(claude_setup.work)
