"""Tracked daemon timers: every timer a manager starts can be cancelled and joined.

A finished session's delayed removal (``cleanup_grace``) uses :class:`threading.Timer`
(the stop ladder runs on each session's supervisor thread instead). A
:class:`TimerSet` keeps the live timers so that ``shutdown`` can cancel them and join
their threads: nothing a manager started outlives it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["TimerSet"]

log = logging.getLogger(__name__)


class _TrackedTimer(threading.Timer):
    """A timer that leaves its :class:`TimerSet` when its thread ends, fired or cancelled."""

    def __init__(self, owner: TimerSet, delay: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__(delay, self._call, args=(fn, args))
        self._owner = owner

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("timer %s failed", self.name)

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._owner._discard(self)  # noqa: SLF001


class TimerSet:
    """Starts named daemon timers and remembers them until their thread ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[threading.Timer] = set()
        self._closed = False

    def start(self, name: str, delay: float, fn: Callable[..., Any], *args: Any) -> threading.Timer | None:
        """Run ``fn(*args)`` on a daemon thread after ``delay`` seconds.

        An exception from ``fn`` is logged, never raised.

        Returns:
            The started timer (cancel it with :meth:`cancel`), or ``None`` once the
            set is closed (the manager is shutting down).
        """
        timer = _TrackedTimer(self, delay, fn, args)
        timer.name = name
        timer.daemon = True
        with self._lock:
            if self._closed:
                return None
            self._live.add(timer)
            timer.start()
        return timer

    def _discard(self, timer: threading.Timer) -> None:
        with self._lock:
            self._live.discard(timer)

    @staticmethod
    def cancel(timer: threading.Timer | None) -> None:
        """Cancel ``timer`` if it has not fired yet (``None`` is ignored)."""
        if timer is not None:
            timer.cancel()

    def close(self, timeout: float = 5.0) -> list[threading.Timer]:
        """Cancel every timer, refuse new ones, join them all.

        Returns:
            Timers still alive after ``timeout`` seconds (their function is running
            and did not return); the caller logs them.
        """
        with self._lock:
            self._closed = True
            timers = list(self._live)
        for timer in timers:
            timer.cancel()
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        stuck = []
        for timer in timers:
            if timer is current:
                continue
            timer.join(max(0.0, deadline - time.monotonic()))
            if timer.is_alive():
                stuck.append(timer)
        return stuck

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)
