"""The stop ladder: one budget, one timeline, one record of the step that ended a runner.

::

    t = 0                          the polite step: the ``stop`` command (or stdin closed)
    t = stop_grace                 SIGTERM to the runner's whole process group
    t = stop_grace + kill_grace    SIGKILL to the group (and to descendants that left it)
    t + FINAL_WAIT                 give up waiting for the exit: log a warning, move on

The ladder holds no thread and no timer of its own: the session's supervisor thread
asks it when its next step is due (:meth:`StopLadder.deadline`) and lets it take the
steps that are due (:meth:`StopLadder.advance`), so every runner has exactly one
timeline however many reasons there are to stop it (a caller's stop, shutdown, a
limit, a runner that closed its stdout but lives on). :attr:`StopLadder.step` is the
last step taken; the session reports it as :attr:`SessionState.stop_step`.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Final

from .process import RunnerProcess
from .state import StopStep

__all__ = ["StopLadder", "FINAL_WAIT"]

log = logging.getLogger("sidecar_sync.session")

#: Seconds to wait after SIGKILL before giving up on a runner's exit (a process in
#: uninterruptible sleep can outlive SIGKILL for a while).
FINAL_WAIT: Final = 2.0


class StopLadder:
    """The stop timeline of one runner.

    Args:
        process: the runner.
        label: names the session in log messages.
        stop_grace: seconds from the polite step to SIGTERM.
        kill_grace: seconds from SIGTERM to SIGKILL.
    """

    def __init__(self, process: RunnerProcess, label: str, stop_grace: float, kill_grace: float) -> None:
        self._process = process
        self._label = label
        self._stop_grace = stop_grace
        self._kill_grace = kill_grace
        self.step: StopStep | None = None
        """The last step taken (None: the ladder has not started)."""
        self.reason: str | None = None
        """Why the ladder started."""
        self._due: float | None = None  # when the next step is due (monotonic)

    @property
    def started(self) -> bool:
        """True once a step was taken."""
        return self.step is not None

    def start(self, reason: str, *, polite: bool = True, now: float | None = None) -> None:
        """Begin the ladder (idempotent: a started ladder keeps its timeline).

        Args:
            reason: why, for the log.
            polite: the polite step was taken (the caller sent ``stop`` or closed
                stdin); without it the ladder begins at SIGTERM.
            now: the current ``time.monotonic()``.
        """
        if self.step is not None:
            return
        now = time.monotonic() if now is None else now
        self.reason = reason
        if polite:
            self.step = StopStep.STOP
            self._due = now + self._stop_grace
            log.debug("session %r: stopping (%s)", self._label, reason)
        else:
            self._signal(StopStep.SIGTERM, now)

    def kill(self, reason: str, now: float | None = None) -> None:
        """Skip to SIGKILL now."""
        if self.step is not StopStep.SIGKILL:
            self.reason = self.reason or reason
            self._signal(StopStep.SIGKILL, time.monotonic() if now is None else now)

    def deadline(self) -> float | None:
        """When the next step is due (``time.monotonic()``), or None if nothing is due."""
        return self._due

    def advance(self, now: float) -> bool:
        """Take the step that is due, if any; the caller has checked that the runner still lives.

        Returns:
            False once the ladder is exhausted: SIGKILL was sent :data:`FINAL_WAIT`
            seconds ago and the runner still has not exited.
        """
        if self._due is None or now < self._due:
            return True
        if self.step is StopStep.STOP:
            self._signal(StopStep.SIGTERM, now)
        elif self.step is StopStep.SIGTERM:
            self._signal(StopStep.SIGKILL, now)
        elif self.step is StopStep.SIGKILL:
            self._due = None
            log.warning(
                "session %r: runner (pid %d) has not exited %g s after SIGKILL; giving up waiting for it",
                self._label,
                self._process.pid,
                FINAL_WAIT,
            )
            return False
        return True

    def _signal(self, step: StopStep, now: float) -> None:
        sig = signal.SIGTERM if step is StopStep.SIGTERM else signal.SIGKILL
        self.step = step
        self._due = now + (self._kill_grace if step is StopStep.SIGTERM else FINAL_WAIT)
        if self._process.signal_group(sig):
            log.info(
                "session %r: sent %s to the runner's process group (%s)",
                self._label,
                sig.name,
                self.reason or "stop",
            )
