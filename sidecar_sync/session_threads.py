"""The threads of a session: started all or none, their bodies, and the fds they share.

* **stdout** (``sidecar-stdout-<id>``) — the hot path: non-blocking ``os.readv`` of up to
  :data:`READ_SIZE` bytes into one reused buffer (``poll`` beside the *abandon* wake-up when the pipe is
  empty), the session's pipeline, each batch to the consumers and each turn signal to
  the session; callbacks run here, in order. At end of file it hands over to
  :meth:`Session.stdout_finished`, which waits for the reap and settles the final status.
* **stderr** (``sidecar-stderr-<id>``) — :class:`~sidecar_sync.stderr.StderrReader`.
* **supervisor** (``sidecar-watch-<id>``) — :class:`~sidecar_sync.supervisor.Supervisor`.
* **permission** (``sidecar-permission-<id>``), only with ``on_permission`` — the
  :class:`~sidecar_sync.permissions.PermissionDesk` that asks the callback about the
  runner's tool requests, one at a time, so the stdout thread never waits for it.

Every thread is a daemon (a forgotten manager never blocks interpreter exit) and is
joined by the manager. The last of the first three to end closes the wake-up pipes and the pidfd;
each reader closes its own pipe, so no fd is closed (and reused) under a reader.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from typing import TYPE_CHECKING, cast

from ._readbuf import read_buffer
from .pipeline import PermissionSignal, TurnSignal
from .process import READ_SIZE
from .supervisor import Supervisor

if TYPE_CHECKING:
    from .session import Session

__all__ = ["READ_SIZE", "SessionThreads", "current_session"]

log = logging.getLogger("sidecar_sync.session")



def current_session() -> Session | None:
    """The session whose thread is running this code (a callback's caller), if any."""
    return cast("Session | None", getattr(threading.current_thread(), "sidecar_session", None))


class SessionThreads:
    """Starts one session's threads; if one cannot start, ends the runner and frees everything.

    Raises:
        Whatever starting a thread raised (``RuntimeError: can't start new thread``),
        after the runner was killed and reaped and every fd closed.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._lock = threading.Lock()
        self._left = 3
        sid = session.session_id
        name = sid if len(sid) <= 40 else sid[:37] + "..."
        self.stdout = threading.Thread(target=self._read_stdout, name=f"sidecar-stdout-{name}", daemon=True)
        self.stderr = threading.Thread(target=self._read_stderr, name=f"sidecar-stderr-{name}", daemon=True)
        self.watch = threading.Thread(target=self._watch, name=f"sidecar-watch-{name}", daemon=True)
        started: list[threading.Thread] = []
        try:
            # The supervisor starts first: once it runs, the runner is always reaped.
            for thread in (self.watch, self.stderr, self.stdout, *session.permissions.threads):
                thread.sidecar_session = session  # type: ignore[attr-defined]  # marks our threads
                thread.start()
                started.append(thread)
        except BaseException:
            self._abort(started)
            raise

    @property
    def all(self) -> tuple[threading.Thread, ...]:
        """stdout, stderr, supervisor, and the permission thread if any."""
        return (self.stdout, self.stderr, self.watch, *self._session.permissions.threads)

    def join(self, timeout: float) -> list[threading.Thread]:
        """Join the threads (except the calling one) within ``timeout``; return those still alive."""
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        for thread in self.all:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in self.all if t.is_alive() and t is not current]

    def _abort(self, started: list[threading.Thread]) -> None:
        session = self._session
        process = session.process
        session.kill_requested = True
        process.signal_group(signal.SIGKILL)
        session.abandon.set()
        session.wake.set()
        session.permissions.close("the session could not start")
        if self.watch not in started:
            process.wait_exit(5.0)
            process.reap()
            session.reaped.set()
        for thread in started:
            thread.join(5.0)
        for pipe in ("stdin", "stdout", "stderr"):
            process.close_pipe(pipe)
        process.close_pidfd()
        session.wake.close()
        session.abandon.close()

    # -- the thread bodies -------------------------------------------------------------

    def _read_stdout(self) -> None:
        session = self._session
        buffer = read_buffer(READ_SIZE)  # filled again only once the pipeline is done with a view of it
        view = memoryview(buffer)
        readv = os.readv
        fd = session.process.stdout_fd
        pipeline = session.pipeline
        receive = pipeline.receive_data
        deliver = session.consumers.deliver
        turn_signal = session.turn_signal
        output_arrived = session.output_arrived
        budgeted = session.budgeted
        abandon = session.abandon
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(abandon.fileno(), select.POLLIN)
        try:
            while True:
                try:
                    size = readv(fd, (buffer,))
                except BlockingIOError:
                    if abandon.is_set():
                        break
                    poller.poll()
                    continue
                except OSError as exc:
                    log.error("session %r: reading stdout failed: %s", session.session_id, exc)
                    break
                if not size:
                    break
                data = view[:size]
                output_arrived(data)
                try:
                    for item in receive(data):
                        if type(item) is tuple:
                            deliver(*item)
                            if budgeted:  # before a turn boundary that follows: the turn ends "budget"
                                session.check_budget()
                        else:
                            turn_signal(cast("TurnSignal | PermissionSignal", item))
                except Exception:
                    log.exception("session %r: failed to process %d bytes of output", session.session_id, size)
            for item in pipeline.receive_eof():
                if type(item) is tuple:
                    deliver(*item)
                else:
                    turn_signal(cast("TurnSignal | PermissionSignal", item))
        except Exception:
            log.exception("session %r: stdout reader failed", session.session_id)
        finally:
            try:
                session.stdout_finished()
            finally:
                session.process.close_pipe("stdout")
                self._exited()

    def _read_stderr(self) -> None:
        session = self._session
        try:
            session.stderr.run()
        finally:
            session.wake.set()
            session.process.close_pipe("stderr")
            self._exited()

    def _watch(self) -> None:
        try:
            Supervisor(self._session).run()
        finally:
            self._exited()

    def _exited(self) -> None:
        """The last of the session's threads to end closes the fds they shared."""
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            session = self._session
            session.wake.close()
            session.abandon.close()
            session.process.close_pidfd()
