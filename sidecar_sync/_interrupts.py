"""Keeping Ctrl-C out of the middle of bookkeeping.

A ``KeyboardInterrupt`` can be raised in the main thread between any two bytecodes.
Landing between "the runner was spawned" and "the session is registered", it would
leave a runner nobody knows about, or an id reserved for ever. The few short
sections of the manager that must not be cut in two run inside
:func:`deferred_interrupts`: a SIGINT that arrives meanwhile is held and handed to
the previous handler (which raises ``KeyboardInterrupt`` by default) as soon as the
section ends. Only the main thread runs Python signal handlers, so elsewhere, or
when SIGINT has no Python handler, this does nothing. Sections must stay short and
never block for long: a user's Ctrl-C waits for them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["deferred_interrupts"]


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT for the duration of the block; deliver it right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):  # pragma: no cover - no signal support here
        previous = None
    if not callable(previous):
        yield
        return
    held: list[tuple[int, FrameType | None]] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append((signum, frame))

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            handler: Any = previous
            handler(*held[0])
