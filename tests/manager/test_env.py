"""Environment rules: unit checks of the rules, then what a real runner receives."""

from __future__ import annotations

import logging
import os

import pytest

from sidecar_sync import ExtraEnvRejectedError, InvalidOptionError, SidecarManager
from sidecar_sync.env import build_runner_env, check_directory, validate_extra_env
from tests._proc import descendants
from tests.manager.conftest import TIMEOUT, Recorder, scripted

PARENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/u",
    "CLAUDE_API_KEY": "secret",
    "CLAUDECODE": "1",
    "CLAUDE_CODE_EXPERIMENTAL_AGENT_TEAMS": "1",
    "CLAUDE_CONFIG_DIR": "/parent/cfg",
    "CODEX_HOME": "/c",
    "OLLAMA_HOST": "x",
    "ANTHROPIC_API_KEY": "secret",
    "OPENAI_API_KEY": "secret",
    "OPENAI_BASE_URL": "https://elsewhere.example",
    "ANTHROPICX": "kept: not the ANTHROPIC_ prefix",
    "LANG": "C.UTF-8",
}


def test_parent_env_is_stripped_with_the_whitelist() -> None:
    env = build_runner_env(base=PARENT)
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "CLAUDE_CODE_EXPERIMENTAL_AGENT_TEAMS": "1",
        "ANTHROPICX": "kept: not the ANTHROPIC_ prefix",
        "LANG": "C.UTF-8",
    }


def test_config_dir_and_extra_env_are_added() -> None:
    env = build_runner_env({"MY_FLAG": "on"}, "/cfg", base=PARENT)
    assert env["CLAUDE_CONFIG_DIR"] == "/cfg" and env["MY_FLAG"] == "on"
    assert "CLAUDE_API_KEY" not in env


@pytest.mark.parametrize(
    "key",
    [
        "CLAUDE_CONFIG_DIR",
        "CLAUDE_CODE_EXPERIMENTAL_X",  # kept when inherited from the parent env, refused in extra_env
        "CODEX_API_KEY",
        "OLLAMA_HOST",
        "ANTHROPIC_BASE_URL",
        "anthropic_base_url",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "DYLD_INSERT_LIBRARIES",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "NODE_OPTIONS",
        "PATH",
        "Path",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "PS4",
        "GIT_SSH_COMMAND",
        "PERL5OPT",
        "RUBYOPT",
        "JAVA_TOOL_OPTIONS",
        "GCONV_PATH",
        "BASH_FUNC_x%%",
        "HOME",
        "A=B",
        "NUL\0KEY",
        "",
        "1ABC",
        "has space",
        # loader and trust variables found by an adversarial run
        "OPENSSL_CONF",
        "OPENSSL_MODULES",
        "OPENSSL_ENGINES",
        "ZDOTDIR",
        "SSH_ASKPASS",
        "SUDO_ASKPASS",
        "LESSOPEN",
        "MANPAGER",
        "BROWSER",
        "PROMPT_COMMAND",
        "LUA_INIT",
        "DOTNET_STARTUP_HOOKS",
        "RUSTC_WRAPPER",
        "GOFLAGS",
        "ELECTRON_RUN_AS_NODE",
        "NODE_TLS_REJECT_UNAUTHORIZED",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "PIP_INDEX_URL",
        "MAKEFLAGS",
        "CC",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "bad\udcfftext",
    ],
)
def test_rejected_extra_env_keys(key: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sidecar_sync.env"), pytest.raises(ExtraEnvRejectedError) as info:
        validate_extra_env({"GOOD": "1", key: "v"})
    assert list(info.value.rejected) == [key]
    assert isinstance(info.value, InvalidOptionError) and isinstance(info.value, ValueError)
    assert repr(key) in str(info.value)
    assert any("rejected extra_env" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("extra", [{"K": 1}, {"K": None}, {1: "v"}, {"K": "a\0b"}, {b"K": "v"}])
def test_rejected_extra_env_values(extra: dict) -> None:
    with pytest.raises(ExtraEnvRejectedError):
        validate_extra_env(extra)


def test_every_rejection_is_listed_and_nothing_is_partially_accepted() -> None:
    with pytest.raises(ExtraEnvRejectedError) as info:
        validate_extra_env({"OK": "1", "LD_PRELOAD": "/x.so", "PATH": "/evil", "CLAUDE_X": "1"})
    assert set(info.value.rejected) == {"LD_PRELOAD", "PATH", "CLAUDE_X"}
    assert validate_extra_env({"OK": "1", "MY_APP_SETTING": "x=y; z"}) == {"OK": "1", "MY_APP_SETTING": "x=y; z"}
    with pytest.raises(InvalidOptionError):
        validate_extra_env([("A", "b")])  # type: ignore[arg-type]


def test_check_directory(tmp_path) -> None:  # noqa: ANN001
    assert check_directory("cwd", tmp_path) == str(tmp_path)
    with pytest.raises(InvalidOptionError, match="does not exist"):
        check_directory("cwd", tmp_path / "missing")
    with pytest.raises(InvalidOptionError, match="NUL"):
        check_directory("cwd", "a\0b")
    with pytest.raises(InvalidOptionError, match="path-like"):
        check_directory("cwd", 42)


def test_runner_receives_the_cleaned_environment(
    manager: SidecarManager, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # noqa: ANN001
    for key, value in PARENT.items():
        if key not in ("PATH", "HOME"):
            monkeypatch.setenv(key, value)
    config = tmp_path / "cfg"
    config.mkdir()
    manager.register_provider("env", scripted("env"))
    recorder = Recorder()
    manager.start_session(
        "s",
        "env",
        "x",
        claude_config_dir=str(config),
        extra_env={"MY_FLAG": "on"},
        cwd=str(tmp_path),
        on_message=recorder.on_message,
    )
    manager.wait("s", timeout=TIMEOUT)
    (report,) = [m.content for m in recorder.of_type("unknown")]
    env = report["env"]
    assert env["CLAUDE_CONFIG_DIR"] == str(config)
    assert env["CLAUDE_CODE_EXPERIMENTAL_AGENT_TEAMS"] == "1"
    assert env["MY_FLAG"] == "on" and env["LANG"] == "C.UTF-8"
    for key in ("CLAUDE_API_KEY", "CLAUDECODE", "CODEX_HOME", "OLLAMA_HOST", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        assert key not in env
    assert env["PATH"] == os.environ["PATH"]
    assert report["cwd"] == str(tmp_path)
    assert report["query"]["extraEnv"] == {"MY_FLAG": "on"}
    assert report["query"]["claudeConfigDir"] == str(config)


def test_rejected_extra_env_spawns_nothing(manager: SidecarManager) -> None:
    before = descendants()
    with pytest.raises(ExtraEnvRejectedError, match="LD_PRELOAD"):
        manager.start_session("s", "echo", "x", extra_env={"LD_PRELOAD": "/tmp/evil.so"})
    assert descendants() == before and manager.list_sessions() == []


@pytest.mark.parametrize("key", ["GOOD", "GOOGLE_CLOUD_PROJECT", "IS_SANDBOX", "GATEWAY_API_KEY", "MY_APP_PROXY_MODE"])
def test_ordinary_keys_are_accepted(key: str) -> None:
    assert validate_extra_env({key: "v"}) == {key: "v"}


def test_values_must_be_text() -> None:
    with pytest.raises(ExtraEnvRejectedError, match="not valid text"):
        validate_extra_env({"K": "\udcff"})
