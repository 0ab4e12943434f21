"""sidecar_sync.discovery: finding the agent CLIs and asking their version, on fake installs."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from sidecar_sync import discovery


def make_program(path: Path, body: str = "print('1.2.3 (Fake CLI)')", executable: bool = True) -> Path:
    """Write a small Python program at ``path`` (a stand-in CLI)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{body}\n")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def test_claude_candidates_are_the_known_install_locations(home: Path) -> None:
    """The well-known Claude Code locations, in the order they are checked."""
    assert discovery.claude_candidates(home) == [
        str(home / ".local/bin/claude"),
        str(home / ".claude/local/claude"),
        "/usr/local/bin/claude",
        "/usr/bin/claude",
    ]


def test_claude_found_in_a_candidate_before_path(home: Path, tmp_path: Path) -> None:
    """A CLI in ~/.claude/local wins over one on PATH."""
    local = make_program(home / ".claude/local/claude")
    on_path = make_program(tmp_path / "bin/claude")

    search = discovery.search_claude_cli(home=home, path_env=str(on_path.parent))

    assert search.path == str(local)
    assert search.looked_in == [str(home / ".local/bin/claude"), str(local)]


def home_candidates(home: Path) -> list[str]:
    """The home-relative well-known locations only: a system-wide ``/usr/bin/claude`` is
    no part of what these tests see."""
    return [c for c in discovery.claude_candidates(home) if c.startswith(str(home))]


def test_claude_found_on_path_when_no_candidate_exists(home: Path, tmp_path: Path) -> None:
    """With no well-known install, PATH is searched (shutil.which, no subprocess)."""
    on_path = make_program(tmp_path / "bin/claude")
    candidates = home_candidates(home)
    assert len(candidates) == 2

    search = discovery.search_claude_cli(home=home, path_env=str(on_path.parent), candidates=candidates)

    assert search.path == str(on_path)
    assert search.looked_in == [*candidates, "PATH"]


def test_not_found_names_every_place_and_rejections(home: Path, tmp_path: Path) -> None:
    """A failed search says where it looked, and why an existing file was not taken."""
    make_program(home / ".local/bin/claude", executable=False)

    search = discovery.search_claude_cli(
        home=home, path_env=str(tmp_path / "empty"), candidates=home_candidates(home)
    )

    assert search.path is None and not search.found
    text = search.describe_failure()
    assert text.startswith("Claude Code CLI not found; looked in: ")
    assert str(home / ".local/bin/claude") in text and "PATH" in text
    assert "is not an executable file" in text


def test_explicit_path_is_the_only_place_checked(home: Path, tmp_path: Path) -> None:
    """An explicit path is used as is, and a wrong one never falls back to another binary."""
    explicit = make_program(tmp_path / "custom/claude")
    make_program(home / ".local/bin/claude")

    assert discovery.search_claude_cli(str(explicit), home=home).path == str(explicit)
    wrong = discovery.search_claude_cli(str(tmp_path / "missing"), home=home)
    assert wrong.path is None
    assert wrong.describe_failure() == f"Claude Code CLI not found; looked in: {tmp_path / 'missing'}"
    directory = discovery.search_claude_cli(str(tmp_path), home=home)
    assert directory.path is None and "not an executable file" in directory.describe_failure()


def test_codex_prefers_path_then_npm_global_bins(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Codex: PATH first, then the npm global bin dirs (prefix from NPM_CONFIG_PREFIX first)."""
    monkeypatch.setenv("NPM_CONFIG_PREFIX", str(tmp_path / "npm-prefix"))
    npm_global = make_program(tmp_path / "npm-prefix/bin/codex")
    candidates = discovery.codex_candidates(home)
    assert candidates[0] == str(npm_global)
    assert str(home / ".npm-global/bin/codex") in candidates

    found = discovery.search_codex_cli(home=home, path_env=str(tmp_path / "empty"))
    assert found.path == str(npm_global)
    assert found.looked_in == ["PATH", str(npm_global)]

    on_path = make_program(tmp_path / "bin/codex")
    assert discovery.search_codex_cli(home=home, path_env=str(on_path.parent)).path == str(on_path)


def test_find_functions_use_the_real_environment(tmp_path: Path) -> None:
    """find_claude_cli/find_codex_cli return the explicit path when it is executable, else None."""
    program = make_program(tmp_path / "codex")
    assert discovery.find_codex_cli(str(program)) == str(program)
    assert discovery.find_claude_cli(str(tmp_path / "nope")) is None


def test_cli_version(tmp_path: Path) -> None:
    """cli_version runs `<cli> --version` and returns its first line."""
    program = make_program(
        tmp_path / "cli", "import sys\nassert sys.argv[1:] == ['--version']\nprint()\nprint('codex-cli 9.9.9')"
    )

    assert discovery.cli_version(str(program)) == "codex-cli 9.9.9"


@pytest.mark.parametrize(
    ("body", "timeout"),
    [
        ("import sys\nsys.exit(3)", 30.0),  # fails
        ("pass", 30.0),  # prints nothing
        ("import time\ntime.sleep(60)", 0.5),  # hangs: killed after the timeout
    ],
)
def test_cli_version_failures_give_none(tmp_path: Path, body: str, timeout: float) -> None:
    """A CLI that fails, prints nothing or hangs gives None."""
    program = make_program(tmp_path / "cli", body)

    assert discovery.cli_version(str(program), timeout=timeout) is None


def test_cli_version_of_a_missing_program(tmp_path: Path) -> None:
    assert discovery.cli_version(str(tmp_path / "missing")) is None


def test_cli_version_does_not_wait_on_stdin(tmp_path: Path) -> None:
    """stdin is /dev/null: a CLI that reads stdin sees EOF at once."""
    program = make_program(tmp_path / "cli", "import sys\nprint('read', len(sys.stdin.read()))")

    assert discovery.cli_version(str(program), timeout=5.0) == "read 0"


def test_real_cli_versions(claude_cli: str, codex_cli: str) -> None:
    """The pinned real CLIs report their versions."""
    assert discovery.cli_version(claude_cli) == "2.1.330 (Claude Code)"
    assert discovery.cli_version(codex_cli) == "codex-cli 0.169.0"

