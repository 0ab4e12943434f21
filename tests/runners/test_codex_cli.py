"""The codex runner driving the real Codex CLI against a fake Responses API, offline.

Each test starts ``python -m sidecar_sync.runners.codex --cli <real codex>`` over
stdio with a stripped environment: Codex is configured through
``providerConfig.codexHome`` (a config.toml with a custom ``model_providers`` entry)
or ``providerConfig.config`` overrides.
"""

from __future__ import annotations

import json

import pytest

from tests import realcli
from tests._proc import wait_gone
from tests.fakes import openai_responses as fo
from tests.runners.cli_fixtures import assert_no_process_in, cmdline
from tests.runners.client import events, types

pytestmark = pytest.mark.timeout(90)


def _ok_turn(lines: list) -> list[dict]:
    assert types(lines)[0] == "agent_started", lines
    assert types(lines)[-1] == "agent_stopped", lines
    return events(lines)


def _metadata(request: fo.RecordedRequest) -> dict:
    return json.loads(request.headers["x-codex-turn-metadata"])


def test_plain_turn(codex_cli, codex_setup, cli_runner):
    """A query runs one codex exec: thread.started .. turn.completed, all wrapped in agent_event."""
    codex_setup.api.script(fo.text("Hello from the fake model"))
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)

    evs = _ok_turn(runner.turn(codex_setup.query("say hi")))

    assert [e["type"] for e in evs] == ["thread.started", "turn.started", "item.completed", "turn.completed"]
    assert evs[2]["item"] == {"id": "item_0", "type": "agent_message", "text": "Hello from the fake model"}
    assert evs[3]["usage"]["input_tokens"] == 10
    requests = codex_setup.api.requests
    assert [(r.method, r.path) for r in requests] == [("POST", "/v1/responses")]
    body = requests[0].json()
    assert fo.user_texts(body)[-1] == "say hi"
    assert _metadata(requests[0])["sandbox_mode"] == "danger-full-access"  # bypassPermissions


def test_tool_call_runs_in_the_cli(codex_cli, codex_setup, cli_runner):
    """The fake model asks for exec_command; Codex runs it and the model answers from its output."""
    codex_setup.api.script(
        fo.Reply(
            [fo.Reasoning("I should run it"), fo.FunctionCall("exec_command", {"cmd": "echo tool-output-$((40+2))"})]
        ),
        fo.answer_with_tool_output("Tool said: {}"),
    )
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)

    evs = _ok_turn(runner.turn(codex_setup.query("run it")))

    commands = [e["item"] for e in evs if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"]
    assert len(commands) == 1
    assert commands[0]["aggregated_output"].strip() == "tool-output-42"
    assert commands[0]["exit_code"] == 0
    reasoning = [e["item"]["text"] for e in evs if e.get("item", {}).get("type") == "reasoning"]
    assert reasoning == ["I should run it"]
    messages = [e["item"]["text"] for e in evs if e.get("item", {}).get("type") == "agent_message"]
    assert messages == ["Tool said: tool-output-42"]
    second = codex_setup.api.model_requests()[1].json()
    assert "tool-output-42" in json.dumps(fo.function_call_outputs(second))


def test_follow_up_resumes_the_thread(codex_cli, codex_setup, cli_runner):
    """A follow-up runs `codex exec resume <thread>`: same thread id, history sent to the model."""
    codex_setup.api.script(fo.text("first answer"), fo.text("second answer"))
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)

    first = _ok_turn(runner.turn(codex_setup.query("-first question")))  # a leading dash is not a flag
    second = _ok_turn(runner.turn({"type": "query", "sessionId": "s1", "prompt": "second question"}))

    assert first[0]["type"] == second[0]["type"] == "thread.started"
    assert first[0]["thread_id"] == second[0]["thread_id"]
    body = codex_setup.api.model_requests()[1].json()
    assert fo.user_texts(body)[-2:] == ["-first question", "second question"]
    assert "first answer" in json.dumps(body["input"])
    assert _metadata(codex_setup.api.model_requests()[1])["sandbox_mode"] == "danger-full-access"

    runner.send({"type": "stop", "sessionId": "s1"})  # stop while idle: the runner exits at once
    assert runner.read_all(timeout=10) == []
    assert runner.wait(10) == 0


def test_large_prompt_goes_through_stdin(codex_cli, codex_setup, cli_runner):
    """A prompt over the 128 KiB argv limit works: it is written to Codex's stdin, not its argv."""
    prompt = "-start " + "word " * 40_000 + "END"
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)

    _ok_turn(runner.turn(codex_setup.query(prompt)))

    assert fo.user_texts(codex_setup.api.model_requests()[0].json())[-1] == prompt


def test_stop_during_a_command_leaves_no_process(codex_cli, codex_setup, cli_runner):
    """stop while Codex runs a long command: the node shim, the native binary and the command all end."""
    codex_setup.api.script(fo.exec_command("sleep 60"))
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)
    runner.send(codex_setup.query("sleep a while"))
    lines = runner.read_until("agent_event", 30)
    while not any(e.get("type") == "item.started" for e in events(lines)):
        lines.append(runner.read(30))
    below = runner.tree()
    assert any(b"sleep" in cmdline(p) for p in below), below

    runner.send({"type": "stop", "sessionId": "s1"})
    rest = runner.read_all(timeout=10)

    assert types(rest)[-1] == "agent_stopped", rest
    assert "agent_error" not in types(rest)
    assert runner.wait(10) == 0
    # the command runs in a process group of its own: only the runner's tree kill reaches it
    assert not wait_gone(below, timeout=5), "processes outlived the stopped runner"
    assert_no_process_in(codex_setup.work)


def test_stop_during_a_slow_stream(codex_cli, codex_setup, cli_runner):
    """stop while the model is still streaming: agent_stopped, runner exits, the stream is abandoned."""
    codex_setup.api.script(fo.slow_text("y" * 200, pieces=200, delay=0.05))
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)
    runner.send(codex_setup.query("take your time"))
    assert runner.read()["type"] == "agent_started"
    codex_setup.api.wait_for_events(8)
    below = runner.tree()

    runner.send({"type": "stop", "sessionId": "s1"})
    rest = runner.read_all(timeout=10)

    assert types(rest)[-1] == "agent_stopped", rest
    assert runner.wait(10) == 0
    assert not wait_gone(below, timeout=5)
    assert_no_process_in(codex_setup.work)
    codex_setup.api.wait_for(lambda: codex_setup.api.disconnects >= 1, timeout=10)


@pytest.mark.parametrize("status", [401, 500])
def test_model_error_becomes_agent_error(codex_cli, codex_setup, cli_runner, status):
    """An HTTP error (provider retries 0) -> Codex's error events (wrapped) and agent_error."""
    codex_setup.api.default = fo.api_error(status, f"forced {status}")
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)

    lines = runner.turn(codex_setup.query("fail please"))

    assert types(lines)[-1] == "agent_error", lines
    assert "error" not in types(lines)  # Codex's own error events never look like protocol errors
    evs = events(lines)
    assert "error" in [e["type"] for e in evs] and evs[-1]["type"] == "turn.failed"
    message = lines[-1]["message"]
    assert message.startswith("Codex turn failed (exit code 1): ")
    if status == 401:
        assert "401" in message and "forced 401" in message
    assert len(codex_setup.api.model_requests()) <= 2  # bounded by the provider's retry settings


def test_config_overrides_without_a_config_file(codex_cli, codex_setup, cli_runner):
    """providerConfig.config alone (no config.toml, default CODEX_HOME) configures the provider."""
    codex_setup.api.script(fo.text("configured by overrides"))
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)
    overrides = realcli.codex_provider_overrides(codex_setup.api.base_url)
    query = codex_setup.query("hi", permissionMode="acceptEdits", systemPrompt="Answer like a test.")
    query["providerConfig"] = {"config": overrides}

    evs = _ok_turn(runner.turn(query))

    assert evs[2]["item"]["text"] == "configured by overrides"
    assert (codex_setup.home / ".codex").is_dir()  # the default CODEX_HOME under the runner's HOME
    request = codex_setup.api.model_requests()[0]
    assert _metadata(request)["sandbox_mode"] == "workspace-write"  # acceptEdits
    assert "Answer like a test." in request.body.decode()


@pytest.mark.parametrize(
    ("mode", "sandbox", "expected"),
    [("default", None, "read-only"), ("bypassPermissions", "read-only", "read-only")],
)
def test_permission_mode_selects_the_sandbox(codex_cli, codex_setup, cli_runner, mode, sandbox, expected):
    """permissionMode maps to a sandbox; providerConfig.sandbox overrides the mapping."""
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)
    config = {"sandbox": sandbox} if sandbox else {}

    _ok_turn(runner.turn(codex_setup.query("hi", permissionMode=mode, provider_config=config)))

    assert _metadata(codex_setup.api.model_requests()[0])["sandbox_mode"] == expected


def test_missing_cli_is_a_clear_error(codex_setup, cli_runner, tmp_path):
    """An explicit --cli that does not exist -> agent_error naming where it looked."""
    missing = tmp_path / "no-such-codex"
    runner = cli_runner("codex", str(missing), env=codex_setup.env)

    lines = runner.turn(codex_setup.query("hi"))

    assert types(lines) == ["agent_started", "agent_error"], lines
    assert lines[-1]["message"] == f"Codex CLI not found; looked in: {missing}"


def test_bad_codex_home_is_refused(codex_cli, codex_setup, cli_runner, tmp_path):
    """A codexHome that is not a directory is refused before anything runs."""
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)

    lines = runner.turn(codex_setup.query("hi", provider_config={"codexHome": str(tmp_path / "missing")}))

    assert types(lines) == ["agent_started", "agent_error"], lines
    assert "providerConfig.codexHome" in lines[-1]["message"]
    assert codex_setup.api.requests == []


def test_stop_right_after_the_query(codex_cli, codex_setup, cli_runner):
    """stop while codex exec is being started: the turn ends promptly and nothing is left."""
    codex_setup.api.default = fo.slow_text("z" * 400, pieces=400, delay=0.05)
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)
    runner.send(codex_setup.query("long answer"))
    assert runner.read()["type"] == "agent_started"
    below = runner.tree()

    runner.send({"type": "stop", "sessionId": "s1"})
    rest = runner.read_all(timeout=10)

    assert types(rest)[-1] == "agent_stopped", rest
    assert runner.wait(10) == 0
    assert not wait_gone(below, timeout=5)
    assert_no_process_in(codex_setup.work)


def test_codex_that_exits_early_gives_its_stderr(codex_cli, codex_setup, cli_runner):
    """Codex refusing its configuration (no JSON events, exit 1) -> agent_error with its stderr, minus noise."""
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)

    lines = runner.turn(codex_setup.query("hi", provider_config={"config": {"model_provider": "no-such-provider"}}))

    assert types(lines) == ["agent_started", "agent_error"], lines
    message = lines[-1]["message"]
    assert message.startswith("Codex CLI ended without completing the turn (exit code 1): ")
    assert "no-such-provider" in message
    assert "PATH aliases" not in message and "Reading additional input" not in message
    assert codex_setup.api.requests == []
