"""A real, non-editable install works: what the README's first command promises a new user.

Editable installs read the source tree, so they hide a package missing from the
wheel; these tests look at what a plain ``pip install .`` ships.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]


def _package_dirs() -> set[str]:
    """Every package in the tree, named as installed (``runners/`` is ``sidecar_sync.runners``)."""
    found = set()
    for root, installed in (("sidecar_sync", "sidecar_sync"), ("runners", "sidecar_sync.runners")):
        for init in (REPO / root).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / root).parts
            if root == "sidecar_sync" and parts[:1] == ("runners",):
                continue  # the link to runners/, counted below
            found.add(".".join((installed, *parts)))
    return found


def test_every_package_in_the_tree_is_installed() -> None:
    """pyproject.toml lists each package directory, so none is left out of the wheel;
    ``sidecar_sync/runners`` is a link to the top-level ``runners/``."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == _package_dirs()
    link = REPO / "sidecar_sync" / "runners"
    assert link.is_symlink() and os.readlink(link) == "../runners"
    assert "package-dir" not in config  # every package is where its name says


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_plain_install_runs_the_main_job_from_the_repo_root(tmp_path: Path) -> None:
    """``pip install .`` into a fresh venv, then ``sidecar-sync run`` on the embedded echo runner.

    Run from a copy of the source tree, as the README does: the runner, started with
    ``python -m``, must still import the installed package, not the source tree.
    """
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30
    ).stdout.split(b"\0")
    tree = tmp_path / "tree"
    for name in filter(None, tracked):
        source = REPO / os.fsdecode(name)
        target = tree / os.fsdecode(name)
        if source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "."],
        cwd=tree, capture_output=True, text=True, timeout=480, check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    run = subprocess.run(
        [str(venv / "bin" / "sidecar-sync"), "run", "--json", "hello from a fresh install"],
        cwd=tree, capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    messages = [orjson.loads(line) for line in run.stdout.splitlines()]
    assert [m["type"] for m in messages] == ["init", "text", "cost"]
    assert "hello from a fresh install" in messages[1]["content"]["text"]

    backend = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", "import sidecar_sync.framer as f; print(f.BACKEND)"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert backend.stdout.strip() == "c"
