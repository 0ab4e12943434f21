"""The codex runner's mapping of session options to ``codex exec`` command lines (no CLI needed)."""

from __future__ import annotations

import pytest
import tomllib

from sidecar_sync.errors import InvalidOptionError
from sidecar_sync.options import SessionOptions
from sidecar_sync.runners.codex import SANDBOX_BY_PERMISSION, codex_argv, plan_codex, toml_value


def options(**wire: object) -> SessionOptions:
    return SessionOptions.from_wire({"type": "query", "sessionId": "s1", "prompt": "p", **wire})


def test_first_turn_and_resume_argv():
    """A first turn runs `exec`, a follow-up `exec ... resume <thread>`; the prompt is never in argv (`-`: stdin)."""
    plan = plan_codex(options(permissionMode="bypassPermissions"), base_env={})
    base = [
        "codex",
        "exec",
        "--json",
        "--skip-git-repo-check",
        '--config=sandbox_mode="danger-full-access"',
        '--config=approval_policy="never"',
    ]

    assert codex_argv("codex", plan) == [*base, "-"]
    assert codex_argv("codex", plan, "01a2-thread") == [*base, "resume", "01a2-thread", "-"]


@pytest.mark.parametrize(
    ("mode", "sandbox"),
    [
        (None, "danger-full-access"),  # the protocol's default mode is bypassPermissions
        ("bypassPermissions", "danger-full-access"),
        ("acceptEdits", "workspace-write"),
        ("default", "read-only"),
        ("plan", "read-only"),
        ("dontAsk", "read-only"),  # anything unknown: the safe choice
    ],
)
def test_sandbox_from_permission_mode(mode, sandbox):
    """permissionMode picks the sandbox; approval is always "never" (exec is headless)."""
    plan = plan_codex(options(**({"permissionMode": mode} if mode else {})), base_env={})

    assert f'--config=sandbox_mode="{sandbox}"' in plan.flags
    assert '--config=approval_policy="never"' in plan.flags
    assert SANDBOX_BY_PERMISSION.get(mode or "bypassPermissions", "read-only") == sandbox


def test_provider_config_overrides(tmp_path):
    """sandbox/approvalPolicy override the mapping; config and configOverrides become -c flags."""
    plan = plan_codex(
        options(
            permissionMode="bypassPermissions",
            model="gpt-5.5",
            systemPrompt='Say "hi"\nthen stop',
            additionalDirectories=[str(tmp_path)],
            cwd=str(tmp_path),
            resumeSessionId="01a20dd5-f5a5-7bc1-a548-9007f199947e",
            providerConfig={
                "sandbox": "workspace-write",
                "approvalPolicy": "on-failure",
                "codexHome": str(tmp_path),
                "config": {
                    "model_providers.fake": {"name": "fake", "request_max_retries": 0},
                    "features.plugins": False,
                },
                "configOverrides": ["model_reasoning_effort=low"],
            },
        ),
        base_env={"HOME": "/h"},
    )

    assert plan.flags == [
        "--model=gpt-5.5",
        '--config=sandbox_mode="workspace-write"',
        '--config=approval_policy="on-failure"',
        '--config=developer_instructions="Say \\"hi\\"\\nthen stop"',
        f"--add-dir={tmp_path}",
        '--config=model_providers.fake={name = "fake", request_max_retries = 0}',
        "--config=features.plugins=false",
        "--config=model_reasoning_effort=low",
    ]
    assert plan.env == {"HOME": "/h", "CODEX_HOME": str(tmp_path)}
    assert plan.cwd == str(tmp_path)
    assert plan.thread_id == "01a20dd5-f5a5-7bc1-a548-9007f199947e"


def test_claude_only_options_are_ignored_with_a_warning(caplog):
    """maxTurns and worktreeName have no Codex equivalent: warned about, not passed."""
    plan = plan_codex(options(maxTurns=3, worktreeName="wt"), base_env={})

    assert not any("turn" in f or "worktree" in f for f in plan.flags)
    assert "max_turns" in caplog.text and "worktree_name" in caplog.text


@pytest.mark.parametrize(
    ("wire", "fragment"),
    [
        ({"providerConfig": {"sandbox": "yolo"}}, "providerConfig.sandbox"),
        ({"providerConfig": {"approvalPolicy": "sometimes"}}, "providerConfig.approvalPolicy"),
        ({"providerConfig": {"codexHome": "/no/such/dir"}}, "providerConfig.codexHome"),
        ({"providerConfig": {"config": ["a=1"]}}, "providerConfig.config"),
        ({"providerConfig": {"config": {"bad key": 1}}}, "providerConfig.config"),
        ({"providerConfig": {"config": {"k": None}}}, "providerConfig.config"),
        ({"providerConfig": {"configOverrides": ["novalue"]}}, "providerConfig.configOverrides"),
        ({"providerConfig": {"configOverrides": ["--x=1"]}}, "providerConfig.configOverrides"),
        ({"cwd": "/no/such/dir"}, "cwd"),
        ({"additionalDirectories": ["/no/such/dir"]}, "additional_directories"),
        ({"resumeSessionId": "--last"}, "resume_session_id"),
    ],
)
def test_bad_options_are_refused(wire, fragment):
    """Bad values raise InvalidOptionError naming the option."""
    with pytest.raises(InvalidOptionError, match=fragment.replace(".", r"\.")):
        plan_codex(options(**wire), base_env={})


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        'quote " backslash \\ newline \n tab \t nul-free \x01 unicode é 😀',
        0,
        -12,
        1.5,
        True,
        False,
        [1, "two", [3.0]],
        {"name": "fake", "nested": {"x": [True]}},
        [],
        {},
    ],
)
def test_toml_value_round_trips(value):
    """toml_value gives TOML that parses back to the same value."""
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), "a\x00b", {1: 2}, {"a b": 1}, object()])
def test_toml_value_refuses_what_toml_cannot_hold(value):
    with pytest.raises(InvalidOptionError):
        toml_value(value)
