"""What the claude and codex runners share about driving an agent CLI child.

* :class:`CliRunner` is the base of both runners: the ``--cli PATH`` argument and
  finding the CLI (the given path, else discovery) at the first query.
* :class:`CliOutput` reads the CLI's stdout as NDJSON: raw ``os.read`` chunks
  through the C line framer (so a huge line is dropped whole, never buffered
  without bound), each line parsed once with orjson. A line that is not a JSON
  object is logged and skipped, never forwarded. It treats "the CLI exited and its
  stdout stayed silent for a moment" like EOF, because a grandchild that inherited
  the pipe can hold it open long after the CLI is gone.
* :class:`ProcessTree` ends a CLI together with everything it started. The CLIs
  start helpers the runner does not see: the ``codex`` npm shim is a node process
  whose child is the native binary, and Codex runs each shell command in a process
  group of its own. Killing only the direct child would leave them behind
  (reparented to init, so no longer findable as descendants). So the tree is
  snapshotted (``/proc``: pid and start time, so a recycled pid is never hit)
  before the first signal and while waiting, and whatever is still alive at the
  end is SIGKILLed.

Children are started through :meth:`runners._runner.Runner.spawn`, in the runner's
process group (no new session): the manager's group kill reaches them too.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Final

import orjson

from sidecar_sync._proctree import descendants, kill_known, still_alive
from sidecar_sync.discovery import CliSearch
from sidecar_sync.framer import LineFramer

from ._base import Runner, TurnError
from ._children import ChildProcess

__all__ = ["CliRunner", "CliOutput", "ProcessTree", "descendants", "stderr_summary", "wait_exit"]

log = logging.getLogger(__name__)

#: Bytes per ``os.read`` of a CLI's stdout.
READ_SIZE: Final = 1 << 16
#: A CLI line longer than this is dropped whole (same cap as the manager's framer).
MAX_LINE_SIZE: Final = 10 * 2**20
#: After the CLI exited, how long its stdout may stay open and silent before we stop reading.
EXIT_DRAIN: Final = 0.5
#: Poll interval of the stdout wait, to notice an exit while the pipe stays open.
POLL_INTERVAL: Final = 0.25

_loads = orjson.loads


class CliRunner(Runner):
    """A runner that drives an agent CLI: the one given by ``--cli``, else the one discovery finds."""

    #: The CLI's name in messages ("the Claude Code CLI").
    cli_label: ClassVar[str]

    def __init__(self, cli_path: str | None = None) -> None:
        """Create the runner.

        Args:
            cli_path: the CLI given by ``--cli``; None means "discover it".
        """
        super().__init__()
        self.cli_path = cli_path
        self._cli: str | None = None

    @staticmethod
    def search_cli(explicit: str | None) -> CliSearch:
        """Look for the CLI (the explicit path if given), as :mod:`sidecar_sync.discovery` does."""
        raise NotImplementedError

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> CliRunner:
        """Build the runner from ``[--cli PATH]`` (bad arguments exit with usage, before ``ready``)."""
        parser = argparse.ArgumentParser(
            prog=f"python -m sidecar_sync.runners.{cls.name}",
            description=f"Drive {cls.cli_label} over the runner protocol.",
        )
        parser.add_argument("--cli", help=f"path of {cls.cli_label} (default: discover it)")
        args = parser.parse_args(list(argv))
        return cls(cli_path=args.cli)

    def find_cli(self) -> str:
        """Resolve the CLI for this session (first query).

        Raises:
            TurnError: not found; the message says where it was looked for.
        """
        search = self.search_cli(self.cli_path)
        if search.path is None:
            raise TurnError(search.describe_failure())
        self._cli = search.path
        return search.path


class CliOutput:
    """NDJSON reader of one CLI child's stdout (one reader thread at a time).

    Args:
        child: the CLI (started with ``stdout=PIPE``).
        label: for log lines.
    """

    def __init__(self, child: ChildProcess, label: str) -> None:
        assert child.stdout is not None, "the CLI needs stdout=PIPE"
        self._child = child
        self._fd = child.stdout.fileno()
        self._label = label
        self._framer = LineFramer(MAX_LINE_SIZE, 5 * MAX_LINE_SIZE)
        self._eof = False
        self._exited_at: float | None = None
        self.invalid_lines = 0

    @property
    def eof(self) -> bool:
        """True once the stream ended (no more lines will come)."""
        return self._eof

    def read(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Block until some lines arrive; return them as ``(raw line, parsed object)``.

        Returns an empty list only at end of stream (then :attr:`eof` is True).
        """
        while not self._eof:
            chunk = self._read_chunk()
            if chunk is None:
                continue
            lines = self._framer.feed(chunk) if chunk else self._finish()
            parsed = self._parse(lines)
            if parsed:
                return parsed
        return []

    def _finish(self) -> list[bytes]:
        self._eof = True
        stats = self._framer.stats
        if stats.oversized_lines:
            log.warning(
                "%s: dropped %d output line(s) over %d bytes", self._label, stats.oversized_lines, MAX_LINE_SIZE
            )
        rest: list[bytes] = self._framer.finish()
        return rest

    def _read_chunk(self) -> bytes | None:
        """One chunk; ``b""`` at EOF (or exit + silence); None when there is nothing yet."""
        try:
            ready, _, _ = select.select([self._fd], [], [], POLL_INTERVAL)
        except (OSError, ValueError):  # fd closed under us (the runner is closing)
            return b""
        if ready:
            try:
                return os.read(self._fd, READ_SIZE)
            except OSError as exc:
                log.warning("%s: reading stdout failed: %s", self._label, exc)
                return b""
        if self._child.poll() is not None:
            now = time.monotonic()
            if self._exited_at is None:
                self._exited_at = now
            elif now - self._exited_at >= EXIT_DRAIN:
                log.info("%s exited but its stdout is still open (a leftover child?); stop reading", self._label)
                return b""
        return None

    def _parse(self, lines: Iterable[bytes]) -> list[tuple[bytes, dict[str, Any]]]:
        out = []
        for line in lines:
            try:
                event = _loads(line)
            except orjson.JSONDecodeError:
                event = None
            if isinstance(event, dict):
                out.append((line, event))
            else:
                self.invalid_lines += 1
                log.warning("%s: skipping a stdout line that is not a JSON object: %r", self._label, line[:200])
        return out


# -- process trees ---------------------------------------------------------------------


class ProcessTree:
    """A CLI child and every process it started, ended together.

    Args:
        child: the CLI process.
    """

    def __init__(self, child: ChildProcess) -> None:
        self.child = child
        self.known: dict[int, int] = {}

    def refresh(self) -> None:
        """Remember the current descendants (call before signalling)."""
        if self.child.poll() is None:
            self.known.update(descendants(self.child.pid))

    def signal(self, sig: int) -> None:
        """Snapshot the tree, then send ``sig`` to the CLI itself."""
        self.refresh()
        self.child.send_signal(sig)

    def retire(self, grace: float, polite: Callable[[], None] | None = None) -> int | None:
        """End the CLI and its descendants; return the CLI's exit code (None if unreapable).

        Args:
            grace: seconds to wait for the CLI to exit after ``polite``.
            polite: how to ask it to exit (default: SIGTERM); e.g. close its stdin.
        """
        self.refresh()
        if self.child.poll() is None:
            if polite is None:
                self.child.send_signal(signal.SIGTERM)
            else:
                with contextlib.suppress(OSError):
                    polite()
            deadline = time.monotonic() + grace
            while self.child.poll() is None and time.monotonic() < deadline:
                self.refresh()
                time.sleep(0.02)
        code = self.child.terminate(0.3)
        self.kill_leftovers()
        return code

    def leftovers(self) -> list[int]:
        """Known descendants still alive (same pid *and* start time)."""
        return still_alive(self.known)

    def kill_leftovers(self, wait: float = 1.0) -> None:
        """SIGKILL every known descendant still alive, then wait (bounded) until they are gone."""
        kill_known(self.known)
        deadline = time.monotonic() + wait
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.01)
        survivors = self.leftovers()
        if survivors:
            log.warning("%s: processes survived SIGKILL: %s", self.child.name, survivors)


def stderr_summary(child: ChildProcess, noise: Iterable[re.Pattern[str]] = (), lines: int = 8) -> str:
    """The CLI's last stderr lines, known noise removed, joined for an error message."""
    patterns = tuple(noise)
    kept = [
        line.strip() for line in child.stderr_tail(40) if line.strip() and not any(p.search(line) for p in patterns)
    ]
    return " | ".join(kept[-lines:])


def wait_exit(child: ChildProcess, timeout: float) -> int | None:
    """The CLI's exit code, waiting up to ``timeout``; None if it is still running."""
    try:
        return child.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
