"""The bookkeeping behind :class:`~sidecar_sync.SidecarManager`: which sessions exist.

:class:`SessionRegistry` maps session ids to sessions under one lock, reserves ids
while a session is being started (so two callers cannot start the same id), keeps
removed sessions whose threads may still run until they are joined, and runs the
delayed cleanup that drops a finished session ``cleanup_grace`` seconds after its
end (one daemon :class:`threading.Timer` per session, through
:class:`~sidecar_sync.timers.TimerSet`).

It also keeps every live runner in a :class:`ProcessTable` shared with a
``weakref.finalize`` of the manager: if a manager is dropped or the interpreter exits
without a shutdown, every runner group still alive is killed. The table remembers
the process that created it, so a forked child never kills its parent's runners.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import TYPE_CHECKING

from .errors import SessionExistsError, SessionNotFoundError, SidecarError
from .timers import TimerSet

if TYPE_CHECKING:
    from .process import RunnerProcess
    from .session import Session

__all__ = ["ProcessTable", "SessionRegistry", "kill_leftovers"]

log = logging.getLogger("sidecar_sync.manager")


class ProcessTable:
    """Live runner processes by pid; shared with the last-resort finalizer (no ref to the manager)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.processes: dict[int, RunnerProcess] = {}
        self.owner_pid = os.getpid()

    def add(self, process: RunnerProcess) -> None:
        with self.lock:
            self.processes[process.pid] = process

    def discard(self, process: RunnerProcess) -> None:
        with self.lock:
            if self.processes.get(process.pid) is process:
                del self.processes[process.pid]

    def clear(self) -> None:
        with self.lock:
            self.processes.clear()


def kill_leftovers(table: ProcessTable) -> None:
    """Last resort (manager garbage-collected or interpreter exiting): SIGKILL every runner group."""
    if os.getpid() != table.owner_pid:
        return  # a forked child: these runners are the parent's
    with table.lock:
        processes = list(table.processes.values())
    for process in processes:
        if process.signal_group(signal.SIGKILL):
            log.warning("killed runner process group %d left running by an unclosed SidecarManager", process.pid)


class SessionRegistry:
    """Session id -> session, plus ids being started, removed sessions and cleanup timers.

    Args:
        cleanup_grace: seconds a finished session stays listed before it is dropped.
    """

    def __init__(self, cleanup_grace: float) -> None:
        self._cleanup_grace = cleanup_grace
        # _lock guards everything below; never held while calling user code,
        # spawning, writing to a runner or joining a thread.
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._starting: set[str] = set()
        self._cleanup: dict[str, tuple[threading.Timer, Session]] = {}
        self._retired: list[Session] = []  # removed sessions whose threads may still run
        self._closed = False
        self.timers = TimerSet()
        self.processes = ProcessTable()

    # -- starting -------------------------------------------------------------------------

    def reserve(self, session_id: str) -> None:
        """Claim ``session_id`` for a session about to start.

        Raises:
            SessionExistsError: the id is taken (or being started).
            SidecarError: the registry is closed (the manager was shut down).
        """
        with self._lock:
            self._check_open()
            if session_id in self._sessions or session_id in self._starting:
                raise SessionExistsError(session_id)
            self._starting.add(session_id)

    def release(self, session_id: str) -> None:
        """Give up a reservation (the start failed)."""
        with self._lock:
            self._starting.discard(session_id)

    def add(self, session: Session) -> bool:
        """Register a started session under its reserved id.

        Returns:
            False if the registry was closed meanwhile (the caller ends the session).
        """
        with self._lock:
            self._starting.discard(session.session_id)
            if self._closed:
                return False
            self._sessions[session.session_id] = session
            if session.finished:
                self._arm_cleanup(session)
            return True

    # -- lookup -------------------------------------------------------------------------

    def get(self, session_id: str) -> Session:
        """The registered session.

        Raises:
            SessionNotFoundError: no such session.
        """
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(session_id)
        return session

    def sessions(self) -> list[Session]:
        """Every registered session."""
        with self._lock:
            return list(self._sessions.values())

    # -- the end of sessions -----------------------------------------------------------------

    def pop(self, session_id: str) -> Session:
        """Unregister a session now and cancel its cleanup timer; it is kept as retired.

        Raises:
            SessionNotFoundError: no such session.
        """
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is None:
                raise SessionNotFoundError(session_id)
            timer, _ = self._cleanup.pop(session_id, (None, None))
            self._retired.append(session)
        self.timers.cancel(timer)
        return session

    def forget_retired(self) -> None:
        """Drop retired sessions whose threads have all ended."""
        with self._lock:
            self._retired = [s for s in self._retired if any(t.is_alive() for t in s.threads)]

    def finished(self, session: Session) -> None:
        """A session became final: forget its runner, schedule its removal."""
        self.processes.discard(session.process)
        with self._lock:
            if self._sessions.get(session.session_id) is session:
                self._arm_cleanup(session)

    def _arm_cleanup(self, session: Session) -> None:
        """Schedule the session's removal after ``cleanup_grace``. Lock held."""
        if self._closed:
            return
        old, _ = self._cleanup.pop(session.session_id, (None, None))
        self.timers.cancel(old)
        timer = self.timers.start(
            f"sidecar-cleanup-{session.session_id}", self._cleanup_grace, self._expire, session
        )
        if timer is not None:
            self._cleanup[session.session_id] = (timer, session)

    def _expire(self, session: Session) -> None:
        """Cleanup timer: drop the session if it is still the registered one and finished."""
        with self._lock:
            entry = self._cleanup.get(session.session_id)
            if entry is None or entry[1] is not session:
                return
            del self._cleanup[session.session_id]
            if self._sessions.get(session.session_id) is session and session.finished:
                del self._sessions[session.session_id]
                if any(t.is_alive() for t in session.threads):
                    self._retired.append(session)  # shutdown still joins them
                log.debug("session %r: removed after its cleanup grace", session.session_id)

    # -- closing -------------------------------------------------------------------------

    def close(self) -> tuple[bool, list[Session]]:
        """Refuse new sessions; cancel the cleanup timers.

        Returns:
            ``(first, sessions)``: whether this call closed the registry, and every
            registered and retired session.
        """
        with self._lock:
            first = not self._closed
            self._closed = True
            sessions = list(self._sessions.values()) + self._retired
            timers = [timer for timer, _ in self._cleanup.values()]
            self._cleanup.clear()
        for timer in timers:
            self.timers.cancel(timer)
        return first, sessions

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise SidecarError("the manager is shut down; create a new SidecarManager")
