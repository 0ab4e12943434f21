"""One session: a runner process, its state machine, its consumers and its three threads.

The session owns the runner (:class:`~sidecar_sync.process.RunnerProcess`), its stdin
writer, its :class:`~sidecar_sync.pipeline.Pipeline`, its
:class:`~sidecar_sync.consumers.Consumers`, its stop ladder, turn clock and deadlines,
and its threads (:mod:`sidecar_sync.session_threads`: stdout, stderr, supervisor, and
with ``on_permission`` the permission thread of its
:class:`~sidecar_sync.permission_relay.PermissionRelay`).

Status rules: :mod:`sidecar_sync.state`; the final status: :mod:`sidecar_sync.outcome`.
All mutable state is guarded by one lock; ``_changed`` is notified on every change,
and waiters loop on their own predicate. No lock is held while user code runs.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

from . import protocol
from ._wakeup import Wakeup
from .consumers import Consumers, MessageIterator
from .errors import RunnerGoneError, SessionNotActiveError, SidecarError, WaitTimeoutError
from .ladder import StopLadder
from .limits import Deadlines, Limits, TurnClock
from .messages import StreamAdapter
from .outcome import EndFacts, final_status
from .permission_relay import PermissionRelay
from .permissions import PermissionCallback
from .pipeline import FAILED, STARTED, PermissionSignal, Pipeline, TurnSignal
from .process import READ_SIZE, RunnerProcess, describe_exit
from .recording import Recorder, trailer
from .settings import SessionSettings
from .state import ERROR, IDLE, RUNNING, TURN_OVER, SessionState, Status, StopStep
from .stderr import StderrReader
from .turns import BUDGET, Outcome
from .turns import ERROR as FAILED_TURN
from .writer import PipeWriter

__all__ = ["READ_SIZE", "Session", "SessionState", "MessageIterator"]

log = logging.getLogger(__name__)

WaitUntil = Literal["turn", "final"]


class Threads(Protocol):
    """What a session needs of its running threads."""

    stdout: threading.Thread

    @property
    def all(self) -> tuple[threading.Thread, ...]: ...

    def join(self, timeout: float) -> list[threading.Thread]: ...


class Session:
    """A running session. Created by :class:`~sidecar_sync.SidecarManager`; not public API.

    Args:
        session_id: the caller's id.
        provider: the provider's name.
        process: the spawned runner.
        adapter: this session's stream adapter (provider events -> messages).
        on_final: called (on the stdout thread) once the session is final.
        start_threads: starts the session's threads, all or none (ending the
            runner if one cannot start): :class:`~sidecar_sync.session_threads.SessionThreads`.
        consumers: who gets its messages and statuses.
        settings: the pipeline's caps, the stop ladder (:mod:`sidecar_sync.ladder`)
            and the start deadline.
        limits: the session's harness limits (turn and idle timeouts, budgets).
        recorder: where the session is recorded, if it is (the session closes it).
        on_permission: asked about the runner's tool requests, on a thread of its
            own; None: every request is denied at once.
        permission_timeout: seconds after which a request is denied unanswered.
    """

    def __init__(
        self,
        *,
        session_id: str,
        provider: str,
        process: RunnerProcess,
        adapter: StreamAdapter,
        on_final: Callable[[Session], None],
        start_threads: Callable[[Session], Threads],
        consumers: Consumers,
        settings: SessionSettings,
        limits: Limits | None = None,
        recorder: Recorder | None = None,
        on_permission: PermissionCallback | None = None,
        permission_timeout: float | None = None,
    ) -> None:
        self.session_id = session_id
        self.provider = provider
        self.process = process
        self.consumers = consumers
        self.stop_grace = stop_grace = settings.stop_grace
        self._on_final = on_final
        self.pipeline = Pipeline(
            adapter,
            max_line_size=settings.max_line_size,
            max_pending=settings.max_pending,
            label=f"session {session_id!r}",
        )
        self._writer = PipeWriter(process, session_id)
        self.ladder = StopLadder(process, session_id, stop_grace, settings.kill_grace)
        self.wake = Wakeup()  # wakes the supervisor
        self.abandon = Wakeup()  # tells the readers to stop reading
        self.stdout_done = threading.Event()
        self.reaped = threading.Event()
        self.stderr = StderrReader(process.stderr_fd, session_id, self.abandon)

        # Guarded by _lock; _changed is notified on every change.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._status: Status = RUNNING
        self._reported: str | None = None  # the last status given to status callbacks
        self._outstanding = 1  # prompts sent and not yet answered (the first query)
        self._turn_error: str | None = None  # the last turn's failure, while the runner lives
        self._error: str | None = None
        self._started_at = time.time()
        self._ended_at: float | None = None
        self._exit_code: int | None = None
        self._stop_requested = False  # by the caller (stop_session, remove_session, shutdown)
        self._stopping = False  # any stop under way (also a limit or a failed start)
        self._stop_reason: str | None = None  # a stop the supervisor has not started yet
        self._exited_before_stop = False
        self._failure: str | None = None  # a reason that makes the final status error
        self._exit_step: StopStep | None = None
        self._limits = limits or Limits()
        self.budgeted = self._limits.budgeted
        self._clock = TurnClock(self._limits, self.pipeline.usage)
        self._clock.begin()  # the first prompt goes with the first query
        self._deadlines = Deadlines(self._clock, start_timeout=settings.start_timeout, stop_grace=stop_grace)
        self._last_output = time.monotonic()  # when the runner last wrote to stdout
        self._recorder = recorder
        self._final = threading.Event()
        self.kill_requested = False
        name = session_id if len(session_id) <= 40 else session_id[:37] + "..."
        self.permissions = PermissionRelay(
            session_id, on_permission, permission_timeout, self._writer,
            on_deadline=self.wake.set, thread_name=f"sidecar-permission-{name}",
        )  # fmt: skip
        self._threads = start_threads(self)

    # -- for the manager ------------------------------------------------------------------

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The session's threads: stdout, stderr, supervisor, and the permission thread if any."""
        return self._threads.all

    @property
    def finished(self) -> bool:
        """True once the final status is set."""
        return self._final.is_set()

    def snapshot(self) -> SessionState:
        """A consistent copy of the session's state."""
        stats = self.pipeline.stats
        usage = self.pipeline.usage
        with self._lock:
            return SessionState(
                session_id=self.session_id,
                provider=self.provider,
                status=self._status,
                cost_usd=usage.cost_usd,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                started_at=self._started_at,
                ended_at=self._ended_at,
                exit_code=self._exit_code,
                error=self._error,
                pid=self.process.pid,
                messages=stats.messages,
                invalid_lines=stats.invalid_lines,
                dropped_lines=stats.oversized_lines,
                dropped_messages=self.consumers.dropped_messages,
                stopping=self._stopping and self._ended_at is None,
                stop_step=self._exit_step if self._ended_at is not None else None,
                cost_reported=usage.cost_reported,
                invalid_usage=usage.invalid_values,
                turns=tuple(self._clock.results),
                agent_version=self.pipeline.agent_version,
            )

    def send_first_query(self, line: bytes, timeout: float, prompt: str) -> None:
        """Send the session's first query line; a runner that is already gone is not an error here.

        The session then ends with the runner's exit status, which says more.
        """
        if self._recorder is not None:
            self._recorder.prompt(prompt)
        try:
            self._writer.write(line, timeout)
        except (RunnerGoneError, WaitTimeoutError) as exc:
            log.warning("session %r: could not send the first query: %s", self.session_id, exc)

    def write_prompt(self, line: bytes, timeout: float, prompt: str) -> None:
        """Send a follow-up query line (carrying ``prompt``); the status becomes ``running`` at once.

        Raises:
            SessionNotActiveError: the session is final or being stopped.
            RunnerGoneError: the runner closed its stdin or exited.
            WaitTimeoutError: the runner did not read its stdin within ``timeout``.
        """
        with self._lock:
            if self._final.is_set():
                raise SessionNotActiveError(self.session_id, self._status, self._error)
            if self._stopping:
                raise SessionNotActiveError(self.session_id, "stopping")
            if self._writer.broken is not None:
                reason = f"runner stdin closed ({self._writer.broken})"
                raise SessionNotActiveError(self.session_id, self._status, reason)
            self._outstanding += 1
            previous = self._status
            self._status = RUNNING
            began = not self._clock.open
            if began:
                self._clock.begin()
            self._changed.notify_all()
        if began and (self._limits.turn_timeout or self._limits.idle_timeout):
            self.wake.set()  # a new deadline for the supervisor
        if self._recorder is not None:
            self._recorder.prompt(prompt)
        try:
            self._writer.write(line, timeout)
        except BaseException:
            with self._lock:
                self._outstanding -= 1
                if self._status == RUNNING and self._outstanding <= 0 and not self._final.is_set():
                    self._status = previous
                    if began:
                        self._clock.discard()
                self._changed.notify_all()
            raise

    def request_stop(self) -> bool:
        """Start the stop ladder for the caller (see :mod:`sidecar_sync.ladder`).

        Returns:
            False if the session is already final or stopping.
        """
        with self._lock:
            if self._final.is_set() or self._stop_requested:
                return False
            self._stop_requested = self._stopping = True
            self._exited_before_stop = self.process.has_exited()
            self._stop_reason = self._stop_reason or "stop requested"
            self._changed.notify_all()
        self.permissions.close("the session is stopping")
        self.wake.set()
        return True

    def kill(self) -> None:
        """Stopped by the caller, now: SIGKILL the runner's whole process group."""
        with self._lock:
            if not self._stop_requested:
                self._exited_before_stop = self.process.has_exited()
            self._stop_requested = self._stopping = True
            self.kill_requested = True
        self.process.signal_group(signal.SIGKILL)
        self.permissions.close("the session was killed")
        self.wake.set()

    def fail(self, reason: str, outcome: Outcome = FAILED_TURN) -> None:
        """A limit was hit (or the runner never started talking): stop it; the session ends ``error``.

        The turn in flight ends with ``outcome``.
        """
        with self._lock:
            if self._final.is_set() or self._failure is not None:
                return
            self._failure = reason
            self._clock.limit_hit(outcome, reason)
            self._stopping = True
            self._stop_reason = self._stop_reason or reason
            self._status = ERROR
            self._error = reason
            self._changed.notify_all()
        log.warning("session %r: %s", self.session_id, reason)
        self.permissions.close(reason)
        self.wake.set()

    def join(self, timeout: float) -> list[threading.Thread]:
        """Join the session's threads (except the calling one); return those still alive."""
        return self._threads.join(timeout)

    def wait(self, timeout: float | None, until: WaitUntil = "turn") -> SessionState:
        """Block until the turn is over (``until="turn"``) or the session is final.

        Once a stop was requested, ``until="turn"`` also waits for the final status.

        Raises:
            WaitTimeoutError: not there after ``timeout`` seconds.
            SidecarError: called from this session's own stdout thread (a callback),
                where it could only deadlock.
        """
        self._refuse_own_thread("wait")

        def over() -> bool:
            if self._ended_at is not None:  # settling: over once the final callback ran
                return self._final.is_set()
            return until == "turn" and not self._stopping and self._status in TURN_OVER

        with self._changed:
            if not self._changed.wait_for(over, timeout):
                what = "final" if until == "final" or self._stopping else "the end of its turn"
                raise WaitTimeoutError(
                    f"session {self.session_id!r} still {self._status} after {timeout:g} s (waiting for {what})"
                )
        return self.snapshot()

    def wait_final(self, timeout: float | None) -> bool:
        """Block until final; True if it got there in time."""
        return self._final.wait(timeout)

    def subscribe(self, timeout: float | None) -> MessageIterator:
        """An iterator over this session's messages from now (plus the backlog)."""
        self._refuse_own_thread("iter_messages")
        with self._lock:
            final = self._final.is_set()
            turn_over = final or (not self._stopping and self._status in TURN_OVER)
            until_final = self._stopping
        return self.consumers.subscribe(timeout, turn_over=turn_over, until_final=until_final)

    def force_final(self, reason: str) -> None:
        """Settle the final status now, from another thread: the stdout thread is stuck in user code.

        Used by shutdown at its deadline. Consumers are detached: the stuck thread
        delivers nothing more when it returns.
        """
        if self._final.is_set():
            return
        log.warning("session %r: %s; settling its final status without it", self.session_id, reason)
        self.consumers.detach(0.0)
        self._settle(report=False)

    def _refuse_own_thread(self, what: str) -> None:
        current = threading.current_thread()
        if current is self._threads.stdout or current in self.permissions.threads:
            raise SidecarError(
                f"{what}() on session {self.session_id!r} from its own callback would deadlock: "
                "callbacks run on threads the session needs to get there"
            )

    # -- for the supervisor ------------------------------------------------------------------

    def due_stop(self, now: float) -> tuple[str, bool] | None:
        """Why the runner must be stopped now, and whether with the polite step first; or None."""
        self.permissions.expire(now)
        idle_since = self.permissions.idle_since(self._last_output, now)
        with self._lock:
            due = self._deadlines.due(
                now,
                recognized=self.pipeline.recognized,
                stopping=self._stopping,
                stdout_closed=self.stdout_done.is_set(),
                last_output=idle_since,
            )
            if due is not None and due.kind == "closed":
                self._stopping = True
                self._failure = self._failure or due.reason
                return due.reason, False  # it does not read its input either, most likely
        if due is not None:
            reason = due.reason
            if due.kind == "start":
                tail = self.stderr.tail()
                reason = f"runner {self.process.argv!r} {reason}; " + (f"stderr: {tail}" if tail else "no stderr")
            self.fail(reason, due.outcome)
        return (self._stop_reason, True) if self._stop_reason is not None else None

    def next_deadline(self) -> float | None:
        """The next moment the supervisor must look again (monotonic), or None."""
        idle_since = self.permissions.idle_since(self._last_output, time.monotonic())
        permission = self.permissions.deadline()
        with self._lock:
            deadline = self._deadlines.next(
                recognized=self.pipeline.recognized, stopping=self._stopping, last_output=idle_since
            )
        return deadline if permission is None else min(permission, deadline or permission)

    def send_stop(self) -> None:
        """The ladder's polite step: the ``stop`` command if the pipe takes it now, then end of input.

        Closing stdin always gets through (a write in progress closes it when it ends),
        so the polite step is always taken.
        """
        try:
            self._writer.write(protocol.encode(protocol.stop_command(self.session_id)), 0.0)
        except (RunnerGoneError, WaitTimeoutError, SidecarError) as exc:
            log.debug("session %r: stop command not delivered: %s", self.session_id, exc)
        self._writer.close("the session is stopping", timeout=0.0)

    def unkillable(self, reason: str) -> None:
        """The ladder gave up: the runner outlived SIGKILL. Stop reading it and end ``error``."""
        with self._lock:
            self._stopping = True
            self._failure = self._failure or reason
        self.abandon.set()

    def note_exit(self) -> None:
        """The supervisor saw the runner exit: remember which ladder step ended it."""
        with self._lock:
            self._exit_step = self.ladder.step or StopStep.EXITED
            if not self._stopping:
                self._exited_before_stop = True
            self._changed.notify_all()

    # -- for the threads (sidecar_sync.session_threads) -------------------------------------

    def output_arrived(self, data: bytes) -> None:
        """The stdout thread read ``data`` (idle timeouts count from here; the recording gets it)."""
        self._last_output = time.monotonic()
        if self._recorder is not None:
            self._recorder.output(data)

    def check_budget(self) -> None:
        """After a batch: stop the runner if the session went over a budget."""
        over = self._limits.over_budget(self.pipeline.usage)
        if over is not None:
            self.fail(over, BUDGET)

    def stdout_finished(self) -> None:
        """The stdout thread read everything: wait for the reap, then settle the final status."""
        self.stdout_done.set()
        self.wake.set()
        self.reaped.wait()
        try:
            self._settle(report=True)
        except Exception:  # pragma: no cover - last line of defence
            log.exception("session %r: finishing failed", self.session_id)
            with self._lock:
                self._final.set()
                self._changed.notify_all()

    def turn_signal(self, turn: TurnSignal | PermissionSignal) -> None:
        """Apply a turn boundary (agent_started, agent_stopped, agent_error) or a permission line."""
        if isinstance(turn, PermissionSignal):
            self.permissions.handle(turn)
            return
        if turn.kind != STARTED:
            self.permissions.turn_ended()
        with self._lock:
            if turn.kind == STARTED:
                if self._failure is None:
                    self._status = RUNNING
            else:
                self._outstanding = max(0, self._outstanding - 1)
                self._turn_error = turn.message if turn.kind == FAILED else None
                if turn.evidence is not None:
                    self._clock.end(
                        turn.evidence,
                        "failed" if turn.kind == FAILED else "stopped",
                        reported=turn.message,
                        hint=turn.outcome,
                        cancelled=self._stop_requested,
                    )
                if self._outstanding > 0 and not self._clock.open:
                    self._clock.begin()  # the next queued prompt's turn
                if self._outstanding == 0 and self._failure is None:
                    self._status = ERROR if self._turn_error else IDLE
                    self._error = self._turn_error
            status, error = self._status, self._error if self._status == ERROR else None
            turn_over = status in TURN_OVER and not self._stopping
            self._changed.notify_all()
        if turn_over:
            self.consumers.end_iterators(final=False)
        if status != self._reported or (turn.kind == FAILED and status == ERROR):
            self._reported = status
            self.consumers.report(status, error)

    # -- the end ---------------------------------------------------------------------------

    def _settle(self, *, report: bool) -> None:
        """Set the final status once the runner is reaped and stdout was read to its end.

        The final status callback runs before waiters are released, so that whoever
        waited for the end sees every callback done.
        """
        process = self.process
        with self._lock:
            if self._final.is_set() or self._ended_at is not None:
                return
            status, error = final_status(
                EndFacts(
                    returncode=process.returncode,
                    status_lost=process.status_lost,
                    stop_requested=self._stop_requested,
                    exited_before_stop=self._exited_before_stop,
                    failure=self._failure,
                    turn_error=self._turn_error,
                    stderr_tail=self.stderr.tail(),
                )
            )
            if self._clock.open:  # the runner is gone and the turn never ended
                self._clock.end(
                    self.pipeline.take_evidence(),
                    "exited",
                    reported=error,
                    cancelled=self._stop_requested,
                    clean_exit=process.returncode == 0,
                )
            self._status = status
            self._error = error
            self._exit_code = process.returncode
            self._ended_at = time.time()
            self._outstanding = 0
            self._exit_step = self._exit_step or (StopStep.SIGKILL if self.kill_requested else StopStep.EXITED)
        self.permissions.close("the session ended")
        self._writer.close("the session ended", timeout=0.0)
        if self._recorder is not None:
            self._recorder.close(trailer(self.snapshot()))
        if status == ERROR:
            log.warning("session %r: %s", self.session_id, error)
        else:
            log.info("session %r: done (runner %s)", self.session_id, describe_exit(process.returncode))
        try:
            if report:
                self._reported = status
                self.consumers.report(status, error)
        finally:
            with self._lock:
                self._final.set()
                self._changed.notify_all()
            self.consumers.end_iterators(final=True)
            self._on_final(self)
