"""A runner's stderr: logged line by line, and its tail kept for error reports.

The stderr pipe must always be read, or a chatty runner blocks once the pipe buffer
fills. :class:`StderrReader` is the target of the session's stderr thread: it reads
raw bytes as they come, logs each line at INFO on the ``sidecar_sync.session``
logger (prefixed with the session id), and keeps the last :data:`STDERR_TAIL` bytes
so a failure can be reported in the runner's own words.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from typing import Final

from ._wakeup import Wakeup

__all__ = ["STDERR_TAIL", "StderrReader"]

log = logging.getLogger("sidecar_sync.session")

#: Bytes of stderr kept for error reports.
STDERR_TAIL: Final = 4096
#: Longest stderr line logged, in bytes (the rest is cut).
LOG_LINE_LIMIT: Final = 1000


class StderrReader:
    """Reads one runner's stderr until end of file or until told to stop.

    Args:
        fd: the parent's (non-blocking) end of the runner's stderr.
        session_id: the log prefix.
        abandon: when set, stop reading (a process that escaped the runner's group
            holds the pipe open).
    """

    def __init__(self, fd: int, session_id: str, abandon: Wakeup) -> None:
        self._fd = fd
        self._session_id = session_id
        self._abandon = abandon
        self._tail = b""
        self.done = threading.Event()
        """Set when reading ended (end of file, an error, or abandoned)."""

    def run(self) -> None:
        """Read to the end (the thread's target)."""
        partial = b""
        prefix = f"[{self._session_id}]"
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._abandon.fileno(), select.POLLIN)
        try:
            while True:
                try:
                    data = os.read(self._fd, 1 << 16)
                except BlockingIOError:
                    if self._abandon.is_set():
                        break
                    poller.poll()
                    continue
                except OSError as exc:
                    log.debug("session %r: reading stderr failed: %s", self._session_id, exc)
                    break
                if not data:
                    break
                self._tail = (self._tail + data)[-STDERR_TAIL:]
                if log.isEnabledFor(logging.INFO):
                    lines = (partial + data).split(b"\n")
                    partial = lines.pop()[-STDERR_TAIL:]
                    for line in lines:
                        line = line.strip()
                        if line:
                            log.info("%s %s", prefix, line[:LOG_LINE_LIMIT].decode("utf-8", "replace"))
                else:
                    partial = b""
            if partial.strip() and log.isEnabledFor(logging.INFO):
                log.info("%s %s", prefix, partial.strip()[:LOG_LINE_LIMIT].decode("utf-8", "replace"))
        except Exception:  # pragma: no cover - never let stderr take the session down
            log.exception("session %r: stderr reader failed", self._session_id)
        finally:
            self.done.set()

    def tail(self, lines: int = 5) -> str:
        """The last ``lines`` non-blank lines the runner wrote, joined by `` | ``."""
        text = self._tail.decode("utf-8", "replace")
        kept = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(kept[-lines:])
