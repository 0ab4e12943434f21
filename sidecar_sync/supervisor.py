"""A session's supervisor thread: the runner's exit, the stop ladder, every deadline, the reap.

One thread per session (``sidecar-watch-<id>``) owns the session's whole timeline, so
that nothing about a runner's end depends on a timer racing another timer:

* **exit** — a pidfd (or, without one, a short ``waitid`` poll) tells when the runner
  exits; its status is read at once without reaping, so the group cannot be reused
  while leftovers are killed;
* **the stop ladder** (:class:`~sidecar_sync.ladder.StopLadder`) for every reason to
  stop: the caller's stop, shutdown, a limit, a start-up deadline, a runner that
  closed its stdout but lives on;
* **deadlines** — the start-up deadline (a runner that says nothing the session
  understands within ``start_timeout`` is stopped and the session fails, naming the
  command and the stderr tail), and the session's :class:`Limits` (turn and idle
  timeouts), checked whenever the session wakes the supervisor or a deadline passes;
* **draining** — exit is not end of file: a descendant may hold the runner's stdout
  or stderr open. Once the runner has exited, the readers get ``stop_grace`` seconds
  to reach end of file; then what is left of the process group, and every process
  that still holds one of the pipes (a ``setsid`` daemon is found through ``/proc``),
  is killed and logged; if a pipe still does not close, the readers are told to stop
  reading. Finalisation never waits for a stranger to close a pipe;
* **the reap** — once the pipes are settled the runner is reaped and the stdout thread,
  which waits for it, settles the final status.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from typing import TYPE_CHECKING, Final

from ._proctree import command_line, kill_known, pipe_holders
from .state import StopStep

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Supervisor", "POLL_FALLBACK"]

log = logging.getLogger("sidecar_sync.session")

#: Without a pidfd the runner's exit is polled this often (seconds).
POLL_FALLBACK: Final = 0.05
#: Seconds the readers get, after the leftovers were killed, before they are told to stop.
ABANDON_GRACE: Final = 1.0


class Supervisor:
    """The body of one session's supervisor thread (:meth:`run`)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._exited = False
        self._drain_deadline: float | None = None
        self._abandon_deadline: float | None = None
        self._leftovers_killed = False

    def run(self) -> None:
        """Watch the runner until it is reaped (the thread's target)."""
        session = self._session
        process = session.process
        poller = select.poll()
        if process.pidfd is not None:
            poller.register(process.pidfd, select.POLLIN)
        poller.register(session.wake.fileno(), select.POLLIN)
        gave_up = False
        try:
            while True:
                now = time.monotonic()
                if not self._exited and process.has_exited():
                    self._exited = True
                    session.note_exit()
                    if process.pidfd is not None:
                        poller.unregister(process.pidfd)  # readable for good from now on
                if self._exited:
                    if self._settle_pipes(now):
                        break
                elif not self._watch_live(now):
                    gave_up = True
                    session.unkillable(f"runner (pid {process.pid}) did not exit after SIGKILL")
                    break
                timeout = self._next_timeout(now)
                poller.poll(None if timeout is None else max(0.0, timeout) * 1000)
                session.wake.clear()
        except Exception:  # pragma: no cover - last line of defence: still reap and release
            log.exception("session %r: supervisor failed", session.session_id)
        finally:
            try:
                if not gave_up:
                    if not self._exited:  # only after a failure above: make sure it ends
                        process.signal_group(signal.SIGKILL)
                    process.reap()
            finally:
                session.reaped.set()

    # -- while the runner lives ---------------------------------------------------------

    def _watch_live(self, now: float) -> bool:
        """Start or advance the ladder for whatever is due; False once it gave up."""
        session = self._session
        ladder = session.ladder
        if session.kill_requested and ladder.step is not StopStep.SIGKILL:
            ladder.kill("killed", now)
        due = session.due_stop(now)
        if due is not None and not ladder.started:
            reason, polite = due
            if polite:
                session.send_stop()
            ladder.start(reason, polite=polite, now=now)
        if ladder.started:
            return ladder.advance(now)
        return True

    # -- after the runner exited ------------------------------------------------------------

    def _settle_pipes(self, now: float) -> bool:
        """Bring the readers to an end; True once the runner can be reaped.

        A reader that is merely behind (the pipe still holds data, or its consumer
        pushes back) is never cut short: once no process holds the pipes, end of
        file is certain. Only a pipe that a process outside our reach keeps open
        is dealt with: that process is killed, and if the pipe still does not close,
        the readers stop reading it.
        """
        session = self._session
        if session.stdout_done.is_set() and session.stderr.done.is_set():
            self._session.process.signal_group(signal.SIGKILL)  # the rest of the group, if any
            return True
        if self._drain_deadline is None:
            self._drain_deadline = now + session.stop_grace
            return False
        if now < self._drain_deadline:
            return False
        if not self._leftovers_killed:
            self._leftovers_killed = True
            holders = self._holders()
            self._kill_leftovers(holders)
            if holders is not None and not holders:
                return True  # nobody else holds the pipes: the readers will reach their end
            self._abandon_deadline = now + ABANDON_GRACE
            return False
        if self._abandon_deadline is not None and now >= self._abandon_deadline:
            self._abandon_deadline = None
            log.warning(
                "session %r: the runner's %s is still open after its holders were killed; no longer reading it",
                session.session_id,
                "stdout" if not session.stdout_done.is_set() else "stderr",
            )
            session.abandon.set()
            return True
        return False

    def _holders(self) -> dict[int, int] | None:
        """The processes holding the runner's unfinished pipes; None if that cannot be known."""
        session = self._session
        process = session.process
        holders: dict[int, int] = {}
        for name, done in (("stdout", session.stdout_done), ("stderr", session.stderr.done)):
            if done.is_set():
                continue
            inode = process.pipe_inode(name)
            if inode is not None:
                holders.update(pipe_holders(inode))
        if not holders and not os.path.isdir("/proc/self/fd"):
            return None
        return holders

    def _kill_leftovers(self, holders: dict[int, int] | None) -> None:
        """Kill what is left of the group and every process holding the runner's pipes; log them."""
        session = self._session
        if holders:
            log.warning(
                "session %r: runner exited but its output stayed open %g s later, held by %s; "
                "killing them and what is left of its process group",
                session.session_id,
                session.stop_grace,
                ", ".join(f"{pid} ({command_line(pid)})" for pid in sorted(holders)),
            )
        elif holders is None:
            log.warning(
                "session %r: runner exited but its output stayed open %g s later; killing what is left of its "
                "process group",
                session.session_id,
                session.stop_grace,
            )
        session.process.signal_group(signal.SIGKILL)
        if holders:
            kill_known(holders)

    # -- timing ---------------------------------------------------------------------------

    def _next_timeout(self, now: float) -> float | None:
        session = self._session
        deadlines = [d for d in (self._drain_deadline, self._abandon_deadline) if d is not None]
        if not self._exited:
            for deadline in (session.ladder.deadline(), session.next_deadline()):
                if deadline is not None:
                    deadlines.append(deadline)
        timeout = min(deadlines) - now if deadlines else None
        if session.process.pidfd is None and not self._exited:
            timeout = POLL_FALLBACK if timeout is None else min(timeout, POLL_FALLBACK)
        return timeout

