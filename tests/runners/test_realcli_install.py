"""tests/realcli.install: pinned, cached, lock-protected installs (with a stand-in npm)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import realcli

FAKE_NPM = """\
#!{python}
import os, sys, time
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_NPM_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
if os.environ.get("FAKE_NPM_FAIL"):
    print("npm ERR! network unreachable", file=sys.stderr)
    sys.exit(1)
prefix = Path(args[args.index("--prefix") + 1])
package, version = args[-1].rsplit("@", 1)
time.sleep(0.3)  # long enough for a second installer to arrive and wait on the lock
bin_dir = prefix / "node_modules" / ".bin"
bin_dir.mkdir(parents=True)
name = os.environ["FAKE_NPM_BIN"]
program = bin_dir / name
program.write_text("#!/bin/sh\\necho " + os.environ.get("FAKE_NPM_VERSION", version) + "\\n")
program.chmod(0o755)
"""

CLI = realcli.NpmCli("@example/fake-cli", "1.2.3", "fake-cli")


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in npm first on PATH, a private cache dir; returns the npm call log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable))
    npm.chmod(0o755)
    log = tmp_path / "npm.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("SIDECAR_SYNC_TEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    monkeypatch.setenv("FAKE_NPM_BIN", CLI.bin_name)
    return log


def test_installs_once_into_the_cache(fake_npm, tmp_path):
    """The first call runs `npm install --prefix <cache>/<pkg>-<ver> pkg@ver`; later calls reuse it."""
    first = realcli.install(CLI)
    second = realcli.install(CLI)

    assert first == second == tmp_path / "cache/npm/fake-cli-1.2.3/node_modules/.bin/fake-cli"
    calls = fake_npm.read_text().splitlines()
    assert len(calls) == 1
    assert calls[0].startswith("install --prefix ") and calls[0].endswith(" @example/fake-cli@1.2.3")
    assert ".tmp-" in calls[0]  # installed beside the cache entry, then renamed into place
    assert not list((tmp_path / "cache/npm").glob("*.tmp-*"))


def test_parallel_installs_wait_for_the_first(fake_npm, tmp_path):
    """Two test runs installing at once: npm runs once, both get the same path."""
    code = "from tests import realcli; from tests.runners.test_realcli_install import CLI; print(realcli.install(CLI))"
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert len({out for out, _err in outputs}) == 1
    assert len(fake_npm.read_text().splitlines()) == 1


def test_leftovers_of_a_crashed_install_are_cleaned(fake_npm, tmp_path):
    """A staging dir or an unmarked prefix from a crashed run is removed, then installed properly."""
    cache = tmp_path / "cache/npm"
    (cache / "fake-cli-1.2.3.tmp-99999/node_modules").mkdir(parents=True)
    (cache / "fake-cli-1.2.3/node_modules/.bin").mkdir(parents=True)  # no completion marker

    path = realcli.install(CLI)

    assert path.exists() and (cache / "fake-cli-1.2.3/.sidecar_sync-installed").exists()
    assert sorted(p.name for p in cache.iterdir()) == ["fake-cli-1.2.3", "fake-cli-1.2.3.lock"]


def test_failed_install_raises_and_leaves_nothing(fake_npm, tmp_path, monkeypatch):
    """npm failing is an error with its output (not a skip), and nothing half-installed stays."""
    monkeypatch.setenv("FAKE_NPM_FAIL", "1")

    with pytest.raises(RuntimeError, match="network unreachable"):
        realcli.install(CLI)

    assert [p.name for p in (tmp_path / "cache/npm").iterdir()] == ["fake-cli-1.2.3.lock"]


def test_wrong_version_is_refused(fake_npm, monkeypatch):
    """An install whose binary reports another version is refused (pinning must hold)."""
    monkeypatch.setenv("FAKE_NPM_VERSION", "9.9.9")

    with pytest.raises(RuntimeError, match="is not 1.2.3"):
        realcli.install(CLI)


def test_no_npm_is_reported_as_unavailable(tmp_path, monkeypatch):
    """Without npm, install raises NpmUnavailable (the fixtures turn it into a loud skip)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("SIDECAR_SYNC_TEST_CACHE", str(tmp_path / "cache"))

    with pytest.raises(realcli.NpmUnavailable, match="npm is not installed"):
        realcli.install(CLI)
