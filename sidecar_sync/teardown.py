"""The end of a manager: every session stopped within one deadline.

:func:`finish_shutdown` is the waiting half of ``SidecarManager.shutdown`` (the
stops themselves were requested already): each session's stop ladder runs on its own
supervisor thread, so waiting for them is one wait to a shared deadline, not one per
session. A session still not final one second before the deadline is killed; one
whose stdout thread is stuck in a callback at half a second before is given its final
status without it. Then the timers and every thread are joined within what is left.
"""

from __future__ import annotations

import logging
import time

from .registry import SessionRegistry
from .session import Session

__all__ = ["finish_shutdown"]

log = logging.getLogger("sidecar_sync.manager")


def finish_shutdown(registry: SessionRegistry, sessions: list[Session], live: list[Session], deadline: float) -> bool:
    """Wait for ``live`` sessions to end by ``deadline`` (monotonic), then join every thread.

    Returns:
        True if every thread ended in time (nothing is left for a finalizer to kill).
    """
    log.debug("shutting down %d sessions", len(sessions))
    for session in live:
        session.wait_final(max(0.0, deadline - 1.0 - time.monotonic()))
    late = [s for s in live if not s.finished]
    for session in late:
        session.kill()
    for session in late:
        session.wait_final(max(0.0, deadline - 0.5 - time.monotonic()))
    for session in late:
        if not session.finished:
            session.force_final("its stdout thread did not finish within the shutdown deadline")
    stuck_timers = registry.timers.close(max(0.0, deadline - time.monotonic()))
    stuck = [t for s in sessions for t in s.join(max(0.0, deadline - time.monotonic()))]
    registry.forget_retired()
    if stuck or stuck_timers:
        log.warning("shutdown: threads still running at its deadline: %s", stuck + stuck_timers)
        return False
    registry.processes.clear()
    return True
