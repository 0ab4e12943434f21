"""Helpers of the CLI tests: run ``python -m sidecar_sync`` as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "replay"

#: Every CLI call in these tests ends within this many seconds or the test fails.
TIMEOUT = 60


def cli_env(**extra: str) -> dict[str, str]:
    """The parent's environment without colour switches, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(extra)
    return env


def cli(
    *args: str,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m sidecar_sync ARGS``; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "sidecar_sync", *args],
        input=input if input is not None else b"",
        capture_output=True,
        timeout=timeout,
        env=env if env is not None else cli_env(),
        cwd=REPO,
        check=False,
    )


def popen_cli(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``python -m sidecar_sync ARGS`` with pipes; the caller must reap it."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("env", cli_env())
    return subprocess.Popen(
        [sys.executable, "-m", "sidecar_sync", *args], cwd=REPO, **kwargs
    )


@pytest.fixture
def data_dir() -> Path:
    return DATA
