"""The env rules' reasons, word for word: they reach the caller in ExtraEnvRejectedError and
InvalidOptionError, so each refusal must name the rule that refused it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar_sync import InvalidOptionError
from sidecar_sync.env import check_directory, extra_env_rejection

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
