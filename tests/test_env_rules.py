"""The env rules' reasons, word for word: they reach the caller in ExtraEnvRejectedError and
InvalidOptionError, so each refusal must name the rule that refused it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar_sync import InvalidOptionError
from sidecar_sync.env import check_directory, extra_env_rejection, validate_extra_env

PROVIDER = "provider credentials and endpoints (CLAUDE*, CODEX*, OLLAMA*, ANTHROPIC_*, OPENAI_*) are not allowed"
NOT_A_NAME = "not a plain variable name (letters, digits and '_', not starting with a digit)"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (1, "x", "key is int, not str"),
        (b"K", "x", "key is bytes, not str"),
        ("K", 2, "value is int, not str"),
        ("K", None, "value is NoneType, not str"),
        ("", "x", "empty key"),
        ("K\0", "x", "contains a NUL byte"),
        ("K", "x\0y", "contains a NUL byte"),
        ("K\ud800", "x", "not valid text (a lone surrogate?)"),
        ("K", "\udcff", "not valid text (a lone surrogate?)"),
        ("A=B", "x", "'=' in key"),
        ("1A", "x", NOT_A_NAME),
        ("A-B", "x", NOT_A_NAME),
        ("claude_x", "x", PROVIDER),
        ("OpenAI_API_KEY", "x", PROVIDER),
        ("PATH", "/x", "changes where programs and their settings are found"),
        ("ld_preload", "x", "dynamic loader variable; LD_* keys are not allowed"),
        ("PYTHONPATH", "x", "Python interpreter variable; PYTHON* keys are not allowed"),
        ("HTTPS_PROXY", "x", "network proxy; set it in the parent's environment instead"),
        ("GOFLAGS", "x", "Go toolchain variable (names programs and code sources)"),
        ("gobin", "x", "Go toolchain variable (names programs and code sources)"),
    ],
)
def test_each_refusal_names_its_rule(key: object, value: object, reason: str) -> None:
    assert extra_env_rejection(key, value) == reason


@pytest.mark.parametrize("key", ["MY_FLAG", "_x", "A1", "GOPHER", "LDX", "PYTHO", "IS_SANDBOX"])
def test_ordinary_keys_pass(key: str) -> None:
    """Near misses of the rules (no prefix quite matched, no Go variable) are allowed."""
    assert extra_env_rejection(key, "value with = and spaces") is None


def test_check_directory_messages(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    missing = tmp_path / "missing"
    cases: list[tuple[object, str]] = [
        (3, "cwd must be a str or path-like, got int"),
        (b"/tmp", "cwd must be a str path, got bytes"),
        ("", "cwd must be a non-empty path without NUL bytes, got ''"),
        ("a\0b", "cwd must be a non-empty path without NUL bytes, got 'a\\x00b'"),
        (str(missing), f"cwd {str(missing)!r} does not exist; give an existing directory"),
        (afile, f"cwd {str(afile)!r} is not a directory; give an existing directory"),
    ]
    for value, message in cases:
        with pytest.raises(InvalidOptionError) as info:
            check_directory("cwd", value)
        assert str(info.value) == message
    assert check_directory("cwd", tmp_path) == str(tmp_path)
    assert check_directory("cwd", os.path.relpath(tmp_path)) == str(tmp_path)  # made absolute


def test_validate_extra_env_names_every_refused_key_and_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from sidecar_sync import ExtraEnvRejectedError

    extra: dict[object, object] = {"OK_KEY": "fine", 7: "x", "LD_PRELOAD": "evil.so"}
    with caplog.at_level(logging.WARNING, logger="sidecar_sync.env"), pytest.raises(ExtraEnvRejectedError) as caught:
        validate_extra_env(extra)  # type: ignore[arg-type]
    rejected = {"7": "key is int, not str", "LD_PRELOAD": "dynamic loader variable; LD_* keys are not allowed"}
    assert caught.value.rejected == rejected
    detail = "; ".join(f"{k!r}: {r}" for k, r in rejected.items())
    logged = [r.getMessage() for r in caplog.records if r.name == "sidecar_sync.env"]
    assert logged == [f"rejected extra_env keys: {detail}"]


@pytest.mark.parametrize(("extra", "kind"), [(["A=1"], "list"), ("A=1", "str"), (3, "int")])
def test_validate_extra_env_wants_a_mapping(extra: object, kind: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        validate_extra_env(extra)  # type: ignore[arg-type]
    assert str(caught.value) == f"extra_env must be a mapping of str to str, got {kind}"


def test_validate_extra_env_returns_a_plain_copy() -> None:
    extra = {"A": "1"}
    assert validate_extra_env(None) == {}
    copy = validate_extra_env(extra)
    assert copy == extra and copy is not extra
