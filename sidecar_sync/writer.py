"""Writing commands to a runner's stdin: whole lines, serialised, bounded in time.

One :class:`PipeWriter` per session. Its lock makes every line atomic, so prompts
and stop commands from several threads never interleave; the fd is non-blocking and
each write has a deadline, so a runner that stops reading cannot hang the caller.
A line that was half written when time ran out cannot be completed later (the
runner would see a corrupt line), so the pipe is then closed for good.
"""

from __future__ import annotations

import os
import select
import threading
import time

from .errors import RunnerGoneError, SidecarError, WaitTimeoutError
from .process import RunnerProcess

__all__ = ["PipeWriter"]


class PipeWriter:
    """Writes whole lines to a runner's stdin.

    Args:
        process: the runner whose stdin this writes.
        label: names the session in messages.
    """

    def __init__(self, process: RunnerProcess, label: str) -> None:
        self._process = process
        self._fd = process.stdin_fd
        self._label = label
        self._lock = threading.Lock()
        self._broken: str | None = None  # why the pipe can no longer be written, once it cannot
        os.set_blocking(self._fd, False)

    @property
    def broken(self) -> str | None:
        """Why writing is no longer possible, or ``None`` while it is."""
        return self._broken

    def write(self, line: bytes, timeout: float) -> None:
        """Write one complete line, waiting at most ``timeout`` seconds for pipe space.

        Raises:
            RunnerGoneError: the runner closed its stdin (or exited), or the pipe
                was closed after an earlier failure.
            WaitTimeoutError: the runner did not read its stdin in time. The pipe is
                then closed if part of the line was already written.
            SidecarError: called in a forked child of the process that started the runner.
        """
        if self._process.foreign:
            raise SidecarError(f"session {self._label!r} belongs to process {self._process.owner_pid}, not this one")
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            raise WaitTimeoutError(f"session {self._label!r}: another write to the runner is still blocked")
        try:
            if self._broken is not None:
                raise RunnerGoneError(f"session {self._label!r}: runner stdin is closed ({self._broken})")
            view = memoryview(line)
            poller: select.poll | None = None
            while view:
                try:
                    written = os.write(self._fd, view)
                except BlockingIOError:
                    written = 0
                except OSError as exc:  # EPIPE: the runner closed its stdin or exited
                    self._fail(f"runner closed its stdin: {exc.strerror or exc}")
                    raise RunnerGoneError(
                        f"session {self._label!r}: runner closed its stdin (it may have exited)"
                    ) from exc
                view = view[written:]
                if not view:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    partial = len(view) < len(line)
                    if partial:
                        self._fail("a write timed out halfway through a line")
                    raise WaitTimeoutError(
                        f"session {self._label!r}: runner did not read its stdin within {timeout:g} s"
                        + ("; stdin closed" if partial else "")
                    )
                if poller is None:
                    poller = select.poll()
                    poller.register(self._fd, select.POLLOUT)
                poller.poll(remaining * 1000)
        finally:
            if self._broken is not None:  # closed meanwhile by close() while this write held the pipe
                self._process.close_pipe("stdin")
            self._lock.release()

    def close(self, reason: str = "closed by the manager", timeout: float = 1.0) -> None:
        """Close the runner's stdin (idempotent); it sees end of input.

        Waits at most ``timeout`` seconds for a write in progress; if that write is
        still blocked, the pipe is marked closed and the write closes it when it ends.
        """
        got = self._lock.acquire(timeout=timeout) if timeout > 0 else self._lock.acquire(blocking=False)
        try:
            if self._broken is None:
                self._broken = reason
            if got:
                self._process.close_pipe("stdin")
        finally:
            if got:
                self._lock.release()

    def _fail(self, reason: str) -> None:
        # Called with the lock held.
        self._broken = reason
        self._process.close_pipe("stdin")
