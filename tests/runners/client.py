"""A test client that drives one runner as a real subprocess over stdio.

It spawns ``[python, "-m", "sidecar_sync.runners.<name>"]`` in its own session
(process group), writes commands, and reads the runner's NDJSON output on a named
reader thread into a queue, so every read has a timeout. :meth:`RunnerClient.close`
kills the whole group and reaps it; the ``runner`` fixture calls it in teardown.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from sidecar_sync.protocol import AGENT_ERROR, AGENT_STOPPED, encode

#: Default seconds any single read or wait may take before the test fails.
TIMEOUT = 15.0

_EOF = object()


class RunnerClient:
    """One runner process under test.

    Args:
        name: the runner module (``echo``, ``replay``, ...) or ``None`` with ``argv``.
        argv: an explicit command instead of ``python -m sidecar_sync.runners.<name>``.
        env: extra environment variables for the runner.
        cwd: the runner's working directory.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        if argv is None:
            argv = [sys.executable, "-m", f"sidecar_sync.runners.{name}"]
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[Any] = queue.Queue()
        self.raw_lines: list[bytes] = []  # every stdout line, as written
        self.stderr_lines: list[str] = []
        self._stdout_thread = threading.Thread(target=self._read_stdout, name=f"test-{name}-stdout", daemon=True)
        self._stderr_thread = threading.Thread(target=self._read_stderr, name=f"test-{name}-stderr", daemon=True)
        self._stdout_thread.start()
        self._stderr_thread.start()

    # -- reading ---------------------------------------------------------------

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in iter(self.proc.stdout.readline, b""):
                self.raw_lines.append(line)
                if not line.strip():
                    continue  # blank lines are legal on the wire (the manager skips them)
                try:
                    self._lines.put(orjson.loads(line))
                except orjson.JSONDecodeError:
                    self._lines.put(("invalid", line))
        except (OSError, ValueError):
            pass  # closed by close() while a process outside the group still held the pipe
        self._lines.put(_EOF)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        try:
            for line in iter(self.proc.stderr.readline, b""):
                self.stderr_lines.append(line.decode("utf-8", "replace").rstrip("\n"))
        except (OSError, ValueError):
            pass  # closed by close() while a process outside the group still held the pipe

    def read(self, timeout: float = TIMEOUT) -> Any:
        """The next stdout line as parsed JSON; AssertionError on timeout or EOF."""
        try:
            item = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from {self.argv} within {timeout}s; stderr: {self.stderr()}") from None
        if item is _EOF:
            self._lines.put(_EOF)  # keep reporting EOF
            raise AssertionError(f"runner closed stdout (exit {self.proc.poll()}); stderr: {self.stderr()}")
        return item

    def read_until(self, types: str | Iterable[str], timeout: float = TIMEOUT) -> list[Any]:
        """Read lines up to and including the first whose ``type`` is in ``types``."""
        wanted = {types} if isinstance(types, str) else set(types)
        deadline = time.monotonic() + timeout
        out: list[Any] = []
        while True:
            line = self.read(max(0.01, deadline - time.monotonic()))
            out.append(line)
            if isinstance(line, dict) and line.get("type") in wanted:
                return out

    def read_turn(self, timeout: float = TIMEOUT) -> list[Any]:
        """Read one turn's lines, through its ``agent_stopped``/``agent_error``."""
        return self.read_until((AGENT_STOPPED, AGENT_ERROR), timeout)

    def read_all(self, timeout: float = TIMEOUT) -> list[Any]:
        """Read every remaining line until stdout closes."""
        deadline = time.monotonic() + timeout
        out: list[Any] = []
        while True:
            try:
                item = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"stdout still open after {timeout}s; got {out!r}") from None
            if item is _EOF:
                self._lines.put(_EOF)
                return out
            out.append(item)

    def stderr(self) -> str:
        return "\n".join(self.stderr_lines[-30:])

    # -- writing ---------------------------------------------------------------

    def send(self, command: Mapping[str, Any]) -> None:
        self.send_raw(encode(command))

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def start(self, timeout: float = TIMEOUT) -> RunnerClient:
        """Wait for ``ready``; returns self."""
        line = self.read(timeout)
        assert line == {"type": "ready"}, line
        return self

    # -- ending ----------------------------------------------------------------

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for the process to exit (and its stderr to be read); AssertionError on timeout."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"runner still running after {timeout}s; stderr: {self.stderr()}") from None
        self._stderr_thread.join(timeout)
        return code

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def close(self) -> None:
        """Kill the runner's whole process group and reap it (idempotent)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stdout_thread.join(5)
        self._stderr_thread.join(5)


def events(lines: Iterable[Any]) -> list[dict[str, Any]]:
    """The provider events of some output lines (``agent_event`` unwrapped)."""
    return [line["event"] for line in lines if isinstance(line, dict) and line.get("type") == "agent_event"]


def types(lines: Iterable[Any]) -> list[str]:
    """The ``type`` of each output line."""
    return [line.get("type") if isinstance(line, dict) else "<invalid>" for line in lines]
