"""The signals that stop ``sidecar-sync run``: SIGINT, SIGTERM and SIGHUP, alike.

A handler that raised anywhere could land inside the manager, halfway through
``stop_session``, and leave a runner behind; so the handler only records the
signal, and the command's main thread, which waits in short slices, acts on it.
The one exception is a blocking read of stdin, which the handler ends by raising
:class:`Interrupted` (a read restarted after the signal would block on).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Final

__all__ = ["SIGNAL_NAMES", "Interrupted", "Signals"]

#: How each handled signal is called in the command's messages.
SIGNAL_NAMES: Final = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated (SIGTERM)",
    signal.SIGHUP: "hung up (SIGHUP)",
}


class Interrupted(Exception):
    """Raised by the handler to end a blocking read of stdin."""


class Signals:
    """SIGINT, SIGTERM and SIGHUP, while used as a context manager: the first stops.

    The handler counts the signal, remembers the first, and sets
    :attr:`requested`; it raises :class:`Interrupted` only while
    :attr:`reading_input` is true. A signal the process was started with ignored
    (``nohup``, a background job) stays ignored. On exit the old handlers come
    back, unless a signal came: then the three stay ignored, so that a late one
    cannot turn the exit status chosen by the command into death by the signal.
    """

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.signum: int | None = None
        self.count = 0
        self.reading_input = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        for signum in SIGNAL_NAMES:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            restore = previous if previous is not None else signal.SIG_DFL
            signal.signal(signum, signal.SIG_IGN if self.count else restore)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        self.requested.set()
        if self.reading_input:
            raise Interrupted

    @property
    def name(self) -> str:
        """How the first signal is called in messages (``"interrupted"`` for Ctrl-C)."""
        if self.signum is None:
            return "stopped"
        return SIGNAL_NAMES.get(
            signal.Signals(self.signum), signal.Signals(self.signum).name
        )

    @property
    def again(self) -> str:
        """What the user sends to hurry the stop: ``"Ctrl-C"``, or the signal's name."""
        if self.signum is None or self.signum == signal.SIGINT:
            return "Ctrl-C"
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        """128 + the first signal's number (130 for Ctrl-C), the shell's convention."""
        return 128 + (self.signum if self.signum is not None else signal.SIGINT)
