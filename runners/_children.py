"""Child processes a runner starts (the agent CLIs), and how they end.

A child stays in the runner's process group (no new session), so the manager's
group kill reaches it even if the runner itself is killed first. Its stderr is
read by a named daemon thread that copies each line to the runner's stderr (the
manager logs it) and keeps the last lines, so a failing CLI can be reported with
its own words. stdin defaults to ``/dev/null``: agent CLIs in one-shot mode wait
on an open stdin pipe (Claude Code for a few seconds, Codex forever; see
``docs/real-clis.md``).

:class:`ChildRegistry` remembers every live child of a runner so the host can
end them all at exit (stop, a signal, or the host's death).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

__all__ = ["ChildProcess", "ChildRegistry", "DEVNULL", "PIPE"]

log = logging.getLogger(__name__)

DEVNULL = subprocess.DEVNULL
PIPE = subprocess.PIPE

#: Lines of a child's stderr kept for error messages.
STDERR_TAIL_LINES = 40


class ChildProcess:
    """One child process of a runner, in the runner's process group.

    Args:
        argv: the program and its arguments (no shell).
        name: a short label for thread names and log lines (e.g. ``"claude"``).
        cwd: the working directory.
        env: the complete environment (default: the runner's).
        stdin: ``DEVNULL`` (default) or ``PIPE``.
        stdout: ``PIPE`` (default) or ``DEVNULL``.
        forward_stderr: copy the child's stderr lines to the runner's stderr
            (they are kept for :meth:`stderr_tail` either way).
        registry: the registry to join (the runner's, normally).

    Raises:
        OSError: the program could not be started (``FileNotFoundError`` when
            it does not exist).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: int = DEVNULL,
        stdout: int = PIPE,
        forward_stderr: bool = True,
        registry: ChildRegistry | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._forward = forward_stderr
        self.popen = subprocess.Popen(  # noqa: S603 - argv list, never a shell
            self.argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
        self.pid = self.popen.pid
        self._stderr_thread = threading.Thread(
            target=self._pump_stderr, name=f"{name}-stderr-{self.pid}", daemon=True
        )
        self._stderr_thread.start()
        self._registry = registry
        if registry is not None:
            registry.add(self)

    @property
    def stdin(self) -> IO[bytes] | None:
        return self.popen.stdin

    @property
    def stdout(self) -> IO[bytes] | None:
        return self.popen.stdout

    def _pump_stderr(self) -> None:
        stream = self.popen.stderr
        assert stream is not None
        err = sys.stderr
        prefix = f"[{self.name}] "
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self._tail.append(line)
                if self._forward:
                    try:
                        err.write(prefix + line + "\n")
                        err.flush()
                    except (OSError, ValueError):
                        self._forward = False  # our own stderr is gone; keep the tail only
        except (OSError, ValueError):
            pass
        finally:
            stream.close()

    def stderr_tail(self, lines: int = 10, *, wait: float = 1.0) -> list[str]:
        """The last ``lines`` lines the child wrote on stderr.

        Args:
            lines: how many lines.
            wait: seconds to wait for the stderr reader to reach EOF first (the
                child has usually exited when this is asked).
        """
        self._stderr_thread.join(wait)
        return list(self._tail)[-lines:] if lines > 0 else []

    def poll(self) -> int | None:
        """The exit code, or ``None`` while it runs."""
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for exit and return the exit code (``subprocess.TimeoutExpired`` on timeout)."""
        code = self.popen.wait(timeout)
        self._forget()
        return code

    def send_signal(self, sig: int) -> None:
        """Signal the child; a child that is already gone is not an error."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def terminate(self, grace: float = 1.0) -> int | None:
        """End the child: SIGTERM, wait ``grace`` seconds, then SIGKILL; reap it.

        Returns:
            The exit code, or ``None`` if even SIGKILL did not reap it in time.
        """
        if self.popen.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                try:
                    self.popen.wait(2.0)
                except subprocess.TimeoutExpired:
                    log.warning("%s (pid %d) survived SIGKILL", self.name, self.pid)
                    return None
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        # Let the stderr reader copy what the child wrote last (it sees EOF once
        # the child and anything sharing its stderr are gone).
        self._stderr_thread.join(0.5)
        self._forget()
        return self.popen.returncode

    def _forget(self) -> None:
        if self._registry is not None:
            self._registry.discard(self)


class ChildRegistry:
    """The live children of one runner, ended together at shutdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[int, ChildProcess] = {}

    def add(self, child: ChildProcess) -> None:
        with self._lock:
            self._children[child.pid] = child

    def discard(self, child: ChildProcess) -> None:
        with self._lock:
            self._children.pop(child.pid, None)

    def live(self) -> list[ChildProcess]:
        """The children not yet reaped."""
        with self._lock:
            return list(self._children.values())

    def terminate_all(self, grace: float = 1.0) -> None:
        """SIGTERM every child at once, SIGKILL what is left after ``grace``, reap all."""
        children = self.live()
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.terminate(grace)


def child_env(extra: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, str]:
    """The runner's environment plus ``extra`` (both as given), for a child."""
    env = dict(os.environ)
    if extra:
        env.update(extra)
    env.update({k: str(v) for k, v in overrides.items()})
    return env
