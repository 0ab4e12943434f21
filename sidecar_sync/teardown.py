"""The end of sessions and of a manager, each within one deadline.

:func:`remove_session` is ``SidecarManager.remove_session`` after the session left
the registry: kill a live runner, detach the consumers, join the threads.
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

from ._interrupts import deferred_interrupts
from .errors import InvalidOptionError
from .registry import SessionRegistry
from .session import Session
from .session_threads import current_session
from .validation import check_seconds

__all__ = ["begin_shutdown", "finish_shutdown", "remove_session", "shutdown_deadline"]

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


def remove_session(registry: SessionRegistry, session_id: str, budget: float) -> None:
    """Take the session out of ``registry``, kill a live runner, and wait for its
    callbacks and threads for at most ``budget`` seconds (not at all from its own callback).

    Raises:
        SessionNotFoundError: no such session.
    """
    with deferred_interrupts():
        session = registry.pop(session_id)
        own = current_session() is session
        if not session.finished:
            log.info("session %r: removed while running; killing its runner", session_id)
            session.kill()
    deadline = time.monotonic() + budget
    if not session.consumers.detach(0.0 if own else budget):
        log.warning("session %r: a callback was still running %g s after removal", session_id, budget)
    if current_session() is None:
        stuck = session.join(max(0.0, deadline - time.monotonic()))
        if stuck:
            log.warning("session %r: threads still running after removal: %s", session_id, stuck)
    registry.forget_retired()


def begin_shutdown(registry: SessionRegistry) -> tuple[list[Session], list[Session]]:
    """Close ``registry``, ask every live runner to stop and end every iterator.

    Returns:
        Every session and the live ones, for :func:`finish_shutdown`.
    """
    with deferred_interrupts():
        _, sessions = registry.close()
        live = [s for s in sessions if not s.finished]
        for session in live:
            session.request_stop()
        for session in sessions:
            session.consumers.close_iterators()
    return sessions, live


def shutdown_deadline(timeout: object, default: float) -> float:
    """The monotonic deadline of a shutdown given ``timeout`` (seconds; a bad value is logged and ignored)."""
    budget = default
    if timeout is not None:
        try:
            budget = check_seconds(timeout, "timeout")
        except InvalidOptionError:
            log.warning("shutdown: ignoring timeout=%r (not a number of seconds >= 0)", timeout)
    return time.monotonic() + budget
