"""The claude runner's mapping of session options to the CLI's command line (no CLI needed)."""

from __future__ import annotations

import orjson
import pytest

from sidecar_sync.errors import InvalidOptionError
from sidecar_sync.options import SessionOptions
from sidecar_sync.runners._claude_cli import STREAM_FLAGS, claude_argv, plan_claude, result_error, user_line


def options(**wire: object) -> SessionOptions:
    return SessionOptions.from_wire({"type": "query", "sessionId": "s1", "prompt": "p", **wire})


def test_minimal_options_give_stream_json_mode():
    """No options: only the long-lived stream-json flags; the prompt never goes on the command line."""
    plan = plan_claude(options(), base_env={"PATH": "/bin"})

    assert claude_argv("/x/claude", plan) == ["/x/claude", *STREAM_FLAGS]
    assert STREAM_FLAGS == ("-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose")
    assert plan.cwd is None and plan.resume is None
    assert plan.env == {"PATH": "/bin"}


def test_every_session_option_maps_to_a_flag(tmp_path):
    """Each option becomes one --flag=value (values can start with '-' without becoming flags)."""
    extra1, extra2, config = tmp_path / "a", tmp_path / "b", tmp_path / "cfg"
    for d in (extra1, extra2, config):
        d.mkdir()
    plan = plan_claude(
        options(
            cwd=str(tmp_path),
            model="-m-opus",
            systemPrompt="--dangerously-skip-permissions is text here",
            maxTurns=4,
            permissionMode="acceptEdits",
            additionalDirectories=[str(extra1), str(extra2)],
            worktreeName="feature_1.x",
            resumeSessionId="0fad3f53-68e5-42fb-82b2-43c425df9c54",
            claudeConfigDir=str(config),
        ),
        base_env={"HOME": "/h"},
    )

    assert plan.flags == [
        "--model=-m-opus",
        "--system-prompt=--dangerously-skip-permissions is text here",
        "--max-turns=4",
        "--permission-mode=acceptEdits",
        f"--add-dir={extra1}",
        f"--add-dir={extra2}",
        "--worktree=feature_1.x",
    ]
    assert plan.cwd == str(tmp_path)
    assert plan.env == {"HOME": "/h", "CLAUDE_CONFIG_DIR": str(config)}
    argv = claude_argv("claude", plan, plan.resume)
    assert argv[-1] == "--resume=0fad3f53-68e5-42fb-82b2-43c425df9c54"


def test_provider_config_flags(tmp_path):
    """providerConfig adds settings, tool rules, appended prompt, partial messages, effort, budget."""
    plan = plan_claude(
        options(
            providerConfig={
                "settings": '{"env":{"X":"1"}}',
                "allowedTools": ["Bash(git *)", "Read"],
                "disallowedTools": ["WebFetch"],
                "appendSystemPrompt": "Be brief.",
                "includePartialMessages": True,
                "effort": "low",
                "maxBudgetUsd": 0.5,
            }
        ),
        base_env={},
    )

    assert plan.flags == [
        '--settings={"env":{"X":"1"}}',
        "--allowed-tools=Bash(git *),Read",
        "--disallowed-tools=WebFetch",
        "--append-system-prompt=Be brief.",
        "--include-partial-messages",
        "--effort=low",
        "--max-budget-usd=0.5",
    ]


@pytest.mark.parametrize(
    ("wire", "fragment"),
    [
        ({"cwd": "/no/such/dir"}, "cwd"),
        ({"claudeConfigDir": "/no/such/dir"}, "claude_config_dir"),
        ({"additionalDirectories": ["/no/such/dir"]}, "additional_directories"),
        ({"worktreeName": "../escape"}, "worktree_name"),
        ({"worktreeName": "-flag"}, "worktree_name"),
        ({"resumeSessionId": "--fork-session"}, "resume_session_id"),
        ({"permissionMode": "bypass Permissions"}, "permission_mode"),
        ({"providerConfig": {"allowedTools": "Bash"}}, "providerConfig.allowedTools"),
        ({"providerConfig": {"effort": "extreme"}}, "providerConfig.effort"),
        ({"providerConfig": {"maxBudgetUsd": 0}}, "providerConfig.maxBudgetUsd"),
        ({"providerConfig": {"includePartialMessages": "yes"}}, "providerConfig.includePartialMessages"),
    ],
)
def test_bad_options_are_refused(wire, fragment):
    """Bad values raise InvalidOptionError naming the option, before anything is started."""
    with pytest.raises(InvalidOptionError, match=fragment.replace(".", r"\.")):
        plan_claude(options(**wire), base_env={})


def test_unknown_provider_config_key_is_warned_about(caplog):
    """A providerConfig key nobody reads (a typo) is logged, not silently ignored."""
    plan_claude(options(providerConfig={"alowedTools": ["Bash"]}), base_env={})

    assert "alowedTools" in caplog.text


def test_user_line_is_one_stream_json_message():
    """A prompt becomes exactly one line, newlines escaped."""
    line = user_line("two\nlines")

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "type": "user",
        "message": {"role": "user", "content": "two\nlines"},
        "parent_tool_use_id": None,
    }


def test_result_error_messages():
    """An is_error result gives a message with the CLI's text, subtype, reason and HTTP status."""
    api = {
        "subtype": "success",
        "is_error": True,
        "terminal_reason": "api_error",
        "api_error_status": 500,
        "result": "API Error: 500 boom",
    }
    assert result_error(api) == "Claude Code turn failed (api_error, HTTP 500): API Error: 500 boom"

    turns = {"subtype": "error_max_turns", "is_error": True, "errors": ["max turns reached"]}
    assert result_error(turns) == "Claude Code turn failed (error_max_turns): max turns reached"

    noauth = {"subtype": "success", "is_error": True, "result": "Not logged in · Please run /login"}
    assert "apiKeyHelper" in result_error(noauth)

    odd = {"is_error": True, "result": 42, "api_error_status": True}
    assert result_error(odd) == "Claude Code turn failed"


@pytest.mark.parametrize("name", ["claude", "codex"])
def test_bad_runner_arguments_exit_with_usage(name):
    """An unknown argument makes the runner exit 2 with its usage, before any protocol output."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", f"sidecar_sync.runners.{name}", "--bogus"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == b""
    assert b"usage: python -m sidecar_sync.runners." + name.encode() in done.stderr


def test_from_argv_takes_the_cli_path():
    from sidecar_sync.runners.claude import ClaudeRunner
    from sidecar_sync.runners.codex import CodexRunner

    assert ClaudeRunner.from_argv(["--cli", "/opt/claude"]).cli_path == "/opt/claude"
    assert CodexRunner.from_argv([]).cli_path is None
