"""The build: the cffi build script's helper, and an install that survives a missing compiler."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_build_script() -> object:
    spec = importlib.util.spec_from_file_location("framer_build", REPO / "csrc" / "framer_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cdef_from_header_keeps_declarations_and_lets_the_compiler_fill_constants() -> None:
    build = load_build_script()
    header = (
        "#ifndef X_H\n#define X_H\n#include <stddef.h>\n"
        "#define NDJSON_OK 0\n#define NDJSON_E (-1)\nint f(size_t n);\n#endif\n"
    )
    assert build.cdef_from_header(header).split("\n") == [  # type: ignore[attr-defined]
        "#define NDJSON_OK ...",
        "#define NDJSON_E ...",
        "int f(size_t n);",
    ]


def test_extra_flags_reach_the_compiler_and_the_linker(monkeypatch) -> None:
    monkeypatch.setenv("SIDECAR_SYNC_CFLAGS", "-fsanitize=address  -g")
    build = load_build_script()
    assert build.compile_flags()[-2:] == ["-fsanitize=address", "-g"]  # type: ignore[attr-defined]
    assert build.extra_flags() == ["-fsanitize=address", "-g"]  # type: ignore[attr-defined]


def test_a_build_without_a_compiler_succeeds_with_a_banner(tmp_path: Path) -> None:
    """With a compiler that always fails, build_ext finishes, warns loudly, and builds no module."""
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, tmp_path)
    for name in ("csrc", "sidecar_sync", "runners"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("*.so", "__pycache__", "_framer.c"))
    env = {**os.environ, "CC": "/bin/false"}
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "WARNING: the C NDJSON framer could not be compiled" in proc.stdout + proc.stderr
    assert not list((tmp_path / "sidecar_sync").glob("_framer*.so"))


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs exactly the test command the README opens with, then mypy and the C framer's
    sanitizer build and a bounded fuzz run."""
    readme = (REPO / "README.md").read_text()
    commands = [line for line in readme.split("```sh", 1)[1].split("```", 1)[0].splitlines() if line and line[0] != "#"]
    ci_commands = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and line[0] != "#"]
    assert len(commands) == 2
    assert ci_commands[:3] == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', commands[1]]
    assert ".venv/bin/mypy" in ci_commands[3:]
    (sanitizers,) = [line for line in ci_commands[3:] if "run_sanitizers.sh" in line]
    assert "CASES=20000 " in sanitizers and sanitizers.endswith("bash csrc/tests/run_sanitizers.sh")
