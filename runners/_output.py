"""The runner's side of the pipe: protocol lines out, command lines in.

:class:`ProtocolWriter` owns the runner's protocol stream (a private duplicate of
the original stdout). Every write takes one lock, so lines written by the control
thread (``pong``, ``error``) and by the turn thread (events) never interleave, and
it writes whole buffers with ``os.write`` (no Python-level buffering, so there is
nothing to flush and nothing to lose at exit). Hot paths hand it many lines at once
(:meth:`ProtocolWriter.write` of a joined block) instead of one syscall per line.

When the manager has gone away the write fails with EPIPE; the writer then marks
itself closed, tells the host (``on_closed``) and raises :class:`OutputClosed`
to the writer, and every later write raises the same at once. Once the host is
known to be gone, :meth:`ProtocolWriter.never_block` makes a write that would
block (a full pipe nobody reads) fail the same way instead of waiting.

:class:`CommandReader` cuts the command stream into lines under a size cap.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable
from typing import Final

__all__ = ["ProtocolWriter", "OutputClosed", "CommandReader", "MAX_COMMAND_LINE"]

#: The longest command line the runner accepts (a prompt can be large, but not this large).
MAX_COMMAND_LINE: Final = 64 * 2**20


class OutputClosed(BrokenPipeError):
    """The protocol stream is gone (EPIPE): the manager stopped reading."""


class ProtocolWriter:
    """Writes complete NDJSON lines to the protocol fd, one writer at a time.

    Args:
        fd: the protocol output file descriptor (blocking).
        on_closed: called once, from the writing thread, when the stream breaks.
    """

    def __init__(self, fd: int, on_closed: Callable[[], None] | None = None) -> None:
        self.fd = fd
        #: Held around each write; callers that must make a check and a write atomic
        #: (a turn's "ended" flag) hold it themselves and call :meth:`write_locked`.
        self.lock = threading.Lock()
        self.closed = False
        self.bytes_written = 0
        self._on_closed = on_closed
        self._never_block = False

    def never_block(self) -> None:
        """From now on, a write that would block closes the stream (the host is gone).

        A line cut short by it is never completed: nobody is left to read it.
        """
        self._never_block = True
        with contextlib.suppress(OSError):  # already closed: every write fails anyway
            os.set_blocking(self.fd, False)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` (complete lines) atomically with respect to other writers.

        Raises:
            OutputClosed: the reader of the protocol stream is gone.
        """
        with self.lock:
            self.write_locked(data)

    def write_locked(self, data: bytes | bytearray | memoryview) -> None:
        """Like :meth:`write`, for a caller that already holds :attr:`lock`."""
        if self.closed:
            raise OutputClosed("protocol output is closed")
        view = memoryview(data)
        total = len(view)
        done = 0
        try:
            while done < total:  # a pipe write can be partial when a signal arrives
                try:
                    done += os.write(self.fd, view[done:])
                except BlockingIOError:
                    if self._never_block:
                        raise
                    select.select([], [self.fd], [], 1.0)  # someone made the fd non-blocking
        except OSError as exc:  # EPIPE, ECONNRESET, EBADF: nobody is listening any more
            self.closed = True
            if self._on_closed is not None:
                self._on_closed()
            raise OutputClosed(f"protocol output closed: {exc}") from exc
        finally:
            self.bytes_written += done
            view.release()


class CommandReader:
    """Cuts bytes read from the command stream into lines.

    Lines longer than ``max_line`` are dropped whole and reported (as ``None``
    entries) so the caller can answer them with an ``error`` line.
    """

    def __init__(self, max_line: int = MAX_COMMAND_LINE) -> None:
        self._max_line = max_line
        self._buffer = bytearray()
        self._skipping = False  # inside an oversized line, dropping until its newline

    def feed(self, data: bytes) -> list[bytes | None]:
        """Return the complete lines in ``data`` (blank ones skipped; ``None`` = oversized)."""
        lines: list[bytes | None] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            else:
                self._buffer += data[start:end]
                line = bytes(self._buffer).strip()
                self._buffer.clear()
                if len(line) > self._max_line:
                    lines.append(None)
                elif line:
                    lines.append(line)
            start = end + 1
        if not self._skipping:
            self._buffer += data[start:]
            if len(self._buffer) > self._max_line:
                self._buffer.clear()
                self._skipping = True
                lines.append(None)
        return lines

    def finish(self) -> list[bytes | None]:
        """Return the last, unterminated line at end of stream, if any."""
        line = bytes(self._buffer).strip()
        self._buffer.clear()
        self._skipping = False
        return [line] if line else []
