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
c_loaded_at_import = "sidecar_sync._framer" in sys.modules
try:
    from sidecar_sync.framer import CLineFramer
except ImportError as exc:
    c_import = {"error": str(exc), "type": type(exc).__name__}
else:
    c_import = {"class": CLineFramer.__name__, "lines": [line.decode() for line in CLineFramer().feed(b"x\n")]}
print(json.dumps({
    "backend": framer.BACKEND,
    "line_framer": framer.LineFramer.__name__,
    "c_loaded": c_loaded_at_import,
    "c_import": c_import,
    "c_in_all": "CLineFramer" in framer.__all__,
    "star": sorted(name for name in framer.__all__ if name in vars(framer)),
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
    assert framer.LineFramer is framer.CLineFramer
    assert framer.CLineFramer.__module__ == "sidecar_sync._cframer"


@pytest.mark.parametrize("choice", [None, "", "auto", "c", " C "])
def test_c_is_chosen_when_built(choice: str | None) -> None:
    report = probe(choice)
    assert (report["backend"], report["line_framer"], report["c_loaded"]) == ("c", "CLineFramer", True)
    assert report["c_import"] == {"class": "CLineFramer", "lines": ["x"]}
    assert report["c_in_all"]
    assert report["lines"] == ["a"]
    assert report["events"] == [{"ok": 1}]
    assert not [r for r in report["records"] if r[1] == "WARNING" and r[0] == "sidecar_sync.framer"]


def test_python_on_request() -> None:
    """The twin is the backend and C is not loaded at import; CLineFramer still imports by name."""
    report = probe("python")
    assert (report["backend"], report["line_framer"], report["c_loaded"]) == ("python", "PyLineFramer", False)
    assert report["c_import"] == {"class": "CLineFramer", "lines": ["x"]}
    assert not report["c_in_all"]
    assert report["lines"] == ["a"]
    assert not [r for r in report["records"] if r[0] == "sidecar_sync.framer"], "a choice is not a fallback"


def test_every_name_in_all_is_bound() -> None:
    """A star import never needs C: __all__ names only what the module holds."""
    for report in (probe(None), probe("python"), probe("auto", block=True)):
        assert report["star"] == sorted(set(report["star"]))
        assert "LineFramer" in report["star"] and "PyLineFramer" in report["star"]
    assert "CLineFramer" not in probe("auto", block=True)["star"]


def test_clineframer_without_c_is_an_import_error_that_says_why() -> None:
    """When C is not built, importing CLineFramer fails clearly instead of giving None."""
    report = probe("auto", block=True)
    assert report["c_import"]["type"] == "ImportError"
    assert "the C framer is not built" in report["c_import"]["error"]
    assert "blocked by the test" in report["c_import"]["error"]


def test_other_missing_names_are_attribute_errors() -> None:
    """The module-level __getattr__ answers for CLineFramer only."""
    code = "import sidecar_sync.framer as f; print(hasattr(f, 'NoSuchName'))"
    env = {**os.environ, "SIDECAR_SYNC_FRAMER": "python"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "False"), proc.stderr


def test_an_unknown_choice_fails_the_import() -> None:
    report = probe("rust")
    assert "SIDECAR_SYNC_FRAMER='rust'" in report["import_error"]
    assert "auto, c, python" in report["import_error"]


def test_auto_falls_back_to_python_with_a_warning_when_c_is_missing() -> None:
    report = probe("auto", block=True)
    assert (report["backend"], report["line_framer"], report["c_loaded"]) == ("python", "PyLineFramer", False)
    assert not report["c_in_all"]
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
