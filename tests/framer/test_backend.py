"""Which framer backend is used: C when built, the Python twin on request or as a logged fallback."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar_sync import framer

REPO = Path(__file__).resolve().parents[2]

# Imports the framer in a fresh interpreter, optionally with the compiled module
# blocked, and reports the backend it chose and what it logged.
PROBE = r"""
import importlib.abc, json, logging, sys

class BlockCompiledFramer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sidecar_sync._framer":
            raise ImportError("sidecar_sync._framer blocked by the test")
        return None

if sys.argv[1] == "block":
    sys.meta_path.insert(0, BlockCompiledFramer())

records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append([record.name, record.levelname, record.getMessage()])

logging.getLogger("sidecar_sync").addHandler(Keep())
try:
    from sidecar_sync import framer
    from sidecar_sync.decoder import EventDecoder
except ImportError as exc:
    print(json.dumps({"import_error": str(exc), "records": records}))
    raise SystemExit(0)
print(json.dumps({
    "backend": framer.BACKEND,
    "line_framer": framer.LineFramer.__name__,
    "c_loaded": framer.CLineFramer is not None,
    "lines": [line.decode() for line in framer.LineFramer().feed(b" a \nb")],
    "events": EventDecoder().feed(b'{"ok":1}\nnull\n'),
    "records": records,
}))
"""


def probe(choice: str | None, *, block: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SIDECAR_SYNC_FRAMER"}
    if choice is not None:
        env["SIDECAR_SYNC_FRAMER"] = choice
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "block" if block else "free"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_compiled_module_is_present() -> None:
    spec = importlib.util.find_spec("sidecar_sync._framer")
    assert spec is not None and spec.origin is not None and spec.origin.endswith(".so")


@pytest.mark.skipif(os.environ.get("SIDECAR_SYNC_FRAMER") is not None, reason="this run chose a backend")
def test_this_run_uses_c() -> None:
    """With SIDECAR_SYNC_FRAMER unset and the .so built, the tests exercise the C framer."""
    assert framer.BACKEND == "c"
    assert framer.LineFramer is framer.CLineFramer is not None


@pytest.mark.parametrize("choice", [None, "", "auto", "c", " C "])
def test_c_is_chosen_when_built(choice: str | None) -> None:
    report = probe(choice)
    assert (report["backend"], report["line_framer"], report["c_loaded"]) == ("c", "CLineFramer", True)
    assert report["lines"] == ["a"]
    assert report["events"] == [{"ok": 1}]
    assert not [r for r in report["records"] if r[1] == "WARNING" and r[0] == "sidecar_sync.framer"]


def test_python_on_request() -> None:
    report = probe("python")
    assert (report["backend"], report["line_framer"], report["c_loaded"]) == ("python", "PyLineFramer", False)
    assert report["lines"] == ["a"]
    assert not [r for r in report["records"] if r[0] == "sidecar_sync.framer"], "a choice is not a fallback"


def test_an_unknown_choice_fails_the_import() -> None:
    report = probe("rust")
    assert "SIDECAR_SYNC_FRAMER='rust'" in report["import_error"]
    assert "auto, c, python" in report["import_error"]


def test_auto_falls_back_to_python_with_a_warning_when_c_is_missing() -> None:
    report = probe("auto", block=True)
    assert (report["backend"], report["line_framer"], report["c_loaded"]) == ("python", "PyLineFramer", False)
    assert report["lines"] == ["a"]
    assert report["events"] == [{"ok": 1}]  # the library works on the twin
    warnings = [r for r in report["records"] if r[:2] == ["sidecar_sync.framer", "WARNING"]]
    assert len(warnings) == 1
    assert "C framer not available" in warnings[0][2] and "blocked by the test" in warnings[0][2]


def test_unset_also_falls_back() -> None:
    assert probe(None, block=True)["backend"] == "python"


def test_c_on_request_fails_when_c_is_missing() -> None:
    report = probe("c", block=True)
    assert "SIDECAR_SYNC_FRAMER=c but the C framer is not built" in report["import_error"]
