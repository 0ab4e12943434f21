"""Find the agent CLIs (Claude Code, Codex) on this machine and ask them their version.

The manager uses this to fail early with a useful message ("Claude Code CLI not
found; looked in: ...") and the ``doctor`` command to show what is installed; the
runners use it when the manager did not pass an explicit ``--cli PATH``.

Discovery never runs a shell or a ``which`` subprocess: it checks a fixed list of
well-known install locations (``~/.local/bin``, ``~/.claude/local``,
``/usr/local/bin`` and ``/usr/bin`` for Claude Code; the npm global ``bin``
directories for Codex), and ``PATH`` through :func:`shutil.which`. Every place
looked at is recorded in a :class:`CliSearch`, so an error can say exactly where
the program was not.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "VERSION_TIMEOUT",
    "CliSearch",
    "claude_candidates",
    "codex_candidates",
    "search_claude_cli",
    "search_codex_cli",
    "find_claude_cli",
    "find_codex_cli",
    "cli_version",
]

log = logging.getLogger(__name__)

#: Seconds ``cli_version`` waits for ``<cli> --version`` (the real CLIs answer in ~10 ms).
VERSION_TIMEOUT: Final = 5.0


@dataclass
class CliSearch:
    """The outcome of one search for a CLI: where it was found and where it was not.

    Attributes:
        name: the program searched for (``"claude"``, ``"codex"``).
        path: the executable found, or None.
        looked_in: every location checked, in order (file paths, then ``"PATH"``).
        rejected: explicit or candidate paths that exist but are not executable
            files, with the reason.
    """

    name: str
    path: str | None = None
    looked_in: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """True if an executable was found."""
        return self.path is not None

    def describe_failure(self) -> str:
        """A one-line reason for a failed search, naming every place looked at."""
        label = {"claude": "Claude Code CLI", "codex": "Codex CLI"}.get(self.name, f"{self.name} CLI")
        text = f"{label} not found; looked in: {', '.join(self.looked_in) or 'nowhere'}"
        if self.rejected:
            text += f" (rejected: {'; '.join(self.rejected)})"
        return text


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def claude_candidates(home: Path | None = None) -> list[str]:
    """The fixed install locations checked for ``claude`` before ``PATH``."""
    home = Path.home() if home is None else home
    return [
        str(home / ".local" / "bin" / "claude"),
        str(home / ".claude" / "local" / "claude"),
        "/usr/local/bin/claude",
        "/usr/bin/claude",
    ]


def _npm_global_bins(home: Path) -> list[Path]:
    """The usual ``bin`` directories of ``npm install -g`` (prefix from env, user and system)."""
    bins: list[Path] = []
    prefix = os.environ.get("NPM_CONFIG_PREFIX") or os.environ.get("npm_config_prefix")  # noqa: SIM112 - npm exports it in lower case
    if prefix:
        bins.append(Path(prefix) / "bin")
    bins += [
        home / ".npm-global" / "bin",
        home / ".local" / "bin",
        home / ".volta" / "bin",
        home / ".bun" / "bin",
        Path("/usr/local/bin"),
        Path("/usr/bin"),
    ]
    return bins


def codex_candidates(home: Path | None = None) -> list[str]:
    """The fixed install locations checked for ``codex`` after ``PATH`` (npm global bins)."""
    home = Path.home() if home is None else home
    seen: set[str] = set()
    out: list[str] = []
    for directory in _npm_global_bins(home):
        candidate = str(directory / "codex")
        if candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
    return out


def _check_explicit(search: CliSearch, explicit: str) -> CliSearch:
    path = Path(explicit).expanduser()
    search.looked_in.append(str(path))
    if _is_executable_file(path):
        search.path = str(path)
    elif path.exists():
        search.rejected.append(f"{path} is not an executable file")
    return search


def _check_candidates(search: CliSearch, candidates: list[str]) -> bool:
    for candidate in candidates:
        search.looked_in.append(candidate)
        if _is_executable_file(Path(candidate)):
            search.path = candidate
            return True
        if os.path.exists(candidate):
            search.rejected.append(f"{candidate} is not an executable file")
    return False


def _check_path(search: CliSearch, path_env: str | None) -> bool:
    search.looked_in.append("PATH")
    found = shutil.which(search.name, path=path_env)
    if found:
        search.path = found
        return True
    return False


def search_claude_cli(
    explicit: str | None = None,
    *,
    home: Path | None = None,
    path_env: str | None = None,
    candidates: list[str] | None = None,
) -> CliSearch:
    """Search for the Claude Code CLI and record where it looked.

    Args:
        explicit: a path given by the caller; when set, it is the only place checked
            (a wrong explicit path must fail loudly, not fall back to another binary).
        home: the home directory for the well-known locations (default: the user's).
        path_env: the ``PATH`` string to search (default: ``os.environ["PATH"]``).
        candidates: the locations checked before ``PATH`` (default:
            :func:`claude_candidates` of ``home``); tests pass their own, so that a
            system-wide install cannot change what they see.

    Returns:
        The search record; ``path`` is None if nothing executable was found.
    """
    search = CliSearch("claude")
    if explicit:
        return _check_explicit(search, explicit)
    if _check_candidates(search, claude_candidates(home) if candidates is None else candidates):
        return search
    _check_path(search, path_env)
    return search


def search_codex_cli(
    explicit: str | None = None,
    *,
    home: Path | None = None,
    path_env: str | None = None,
    candidates: list[str] | None = None,
) -> CliSearch:
    """Search for the Codex CLI (``PATH`` first, then npm global bins) and record where it looked.

    Args:
        explicit: a path given by the caller; when set, it is the only place checked.
        home: the home directory for the npm locations (default: the user's).
        path_env: the ``PATH`` string to search (default: ``os.environ["PATH"]``).
        candidates: the locations checked after ``PATH`` (default:
            :func:`codex_candidates` of ``home``); tests pass their own.

    Returns:
        The search record; ``path`` is None if nothing executable was found.
    """
    search = CliSearch("codex")
    if explicit:
        return _check_explicit(search, explicit)
    if _check_path(search, path_env):
        return search
    _check_candidates(search, codex_candidates(home) if candidates is None else candidates)
    return search


def find_claude_cli(explicit: str | None = None) -> str | None:
    """Return the path of the Claude Code CLI, or None (see :func:`search_claude_cli`)."""
    search = search_claude_cli(explicit)
    log.debug("claude CLI search: %s", search)
    return search.path


def find_codex_cli(explicit: str | None = None) -> str | None:
    """Return the path of the Codex CLI, or None (see :func:`search_codex_cli`)."""
    search = search_codex_cli(explicit)
    log.debug("codex CLI search: %s", search)
    return search.path


def cli_version(path: str, timeout: float = VERSION_TIMEOUT) -> str | None:
    """Run ``<path> --version`` and return its first output line, or None if that fails.

    The CLI runs with stdin closed (both agent CLIs otherwise wait for stdin), no
    shell, and a short timeout; a CLI that hangs is killed.

    Args:
        path: the executable.
        timeout: seconds to wait before giving up.

    Returns:
        The first non-empty line of stdout (e.g. ``"2.1.330 (Claude Code)"``,
        ``"codex-cli 0.169.0"``), or None if the program cannot run, exits non-zero,
        times out or prints nothing.
    """
    try:
        done = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s --version failed: %s", path, exc)
        return None
    if done.returncode != 0:
        log.debug("%s --version exited %s", path, done.returncode)
        return None
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()
    return None
