"""A self-pipe that a thread can ``poll`` beside other fds, and another thread can set."""

from __future__ import annotations

import os
import threading

__all__ = ["Wakeup"]


class Wakeup:
    """A flag with a pollable fd: :meth:`set` makes :meth:`fileno` readable until :meth:`clear`.

    Both ends are non-blocking and close-on-exec. Setting it is safe from any thread
    (and from a signal handler); clearing belongs to the thread that polls it.
    """

    __slots__ = ("_r", "_w", "_set", "_lock")

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._set = False
        self._lock = threading.Lock()  # set() never writes to an fd that close() released

    def fileno(self) -> int:
        """The fd to poll for reading."""
        return self._r

    def set(self) -> None:
        """Wake the poller (idempotent until cleared)."""
        self._set = True
        with self._lock:
            if self._w < 0:
                return
            try:
                os.write(self._w, b"\0")
            except OSError:
                pass  # full: already readable

    def is_set(self) -> bool:
        """True once :meth:`set` was called (and not cleared since)."""
        return self._set

    def clear(self) -> None:
        """Drain the pipe and reset the flag."""
        self._set = False
        try:
            while os.read(self._r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        """Close both ends (idempotent); later calls to :meth:`set` do nothing."""
        with self._lock:
            fds, self._r, self._w = (self._r, self._w), -1, -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)
