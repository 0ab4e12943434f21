"""One session: a runner process, its three threads, its state and its consumers.

Threads (all named ``sidecar-<role>-<session id>``, all daemon so that a forgotten
manager never blocks interpreter exit; the manager joins them on shutdown):

* **stdout** — the hot path. ``os.read`` up to 64 KiB, :class:`EventDecoder` (C framer
  + orjson), route the protocol lines of §2, adapt the chunk's provider events with
  one ``adapt_batch`` call, and deliver the chunk's messages with one call per
  callback. No lock, log record or function call per line where one per chunk
  does. Callbacks run here, in order. At EOF it finishes the session (below).
* **stderr** — reads the runner's stderr, logs it line by line (INFO, logger
  ``sidecar_sync.session``) and keeps the last few KiB for error reports.
* **exit** — waits for the runner to exit (without reaping, see
  :mod:`sidecar_sync.process`), gives stdout a bounded time to drain (a grandchild
  may hold it open), kills whatever is left of the process group, and reaps.

Lifecycle (DESIGN §4): ``running`` while a turn is in flight (queued follow-ups
count), ``idle`` once every prompt sent has been answered (``agent_stopped`` or
``agent_error``) while the runner lives, and ``done``/``error`` only after stdout hit
EOF, everything read was delivered, and the process exited. A stopped session ends
``done``; otherwise a non-zero exit, a signal, or a last turn that failed ends
``error`` with the reason (agent_error message, exit code or signal name, stderr tail).

Consumers: callbacks (given at start or added later) and iterators
(:meth:`Session.subscribe`). While a session has neither, its messages collect in a
bounded *backlog* that the next iterator receives first, so ``start_session()``
followed by ``iter_messages()`` misses nothing.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Callable, Final, Iterator, Literal, Sequence

from . import protocol
from .pipeline import FAILED, STARTED, Pipeline, TurnSignal
from .errors import (
    InvalidOptionError,
    RunnerGoneError,
    SessionNotActiveError,
    SidecarError,
    WaitTimeoutError,
)
from .messages import AgentMessage, StreamAdapter
from .process import PipeWriter, RunnerProcess, describe_exit
from .timers import TimerSet

__all__ = [
    "SessionState",
    "Status",
    "RUNNING",
    "IDLE",
    "DONE",
    "ERROR",
    "MessageCallback",
    "StatusCallback",
    "Session",
    "MessageIterator",
]

log = logging.getLogger(__name__)

Status = Literal["running", "idle", "done", "error"]
RUNNING: Final = "running"
IDLE: Final = "idle"
DONE: Final = "done"
ERROR: Final = "error"
_TURN_OVER: Final = frozenset({IDLE, DONE, ERROR})
_FINAL: Final = frozenset({DONE, ERROR})

MessageCallback = Callable[[str, "list[AgentMessage]"], Any]
StatusCallback = Callable[[str, str, "str | None"], Any]

#: Bytes asked of each stdout read. Every read releases the GIL, so with many sessions
#: a bigger read means fewer hand-overs between their threads; the pipe itself is
#: widened too (process.PIPE_SIZE) so the runner can run ahead (bench/README.md, "Hot path").
READ_SIZE: Final = 256 << 10
#: Bytes of stderr kept for error reports.
STDERR_TAIL: Final = 4096
#: Messages an iterator may hold unread before the stdout thread waits for it.
ITERATOR_LIMIT: Final = 100_000
#: How long teardown waits for a thread that should end promptly.
JOIN_TIMEOUT: Final = 10.0

_END = object()  # iterator sentinel: the turn (or the session) is over


@dataclass(frozen=True)
class SessionState:
    """A snapshot of one session, copied at the moment it was asked for.

    Attributes:
        session_id: the caller's id for the session.
        provider: the provider name it was started with.
        status: ``running``, ``idle``, ``done`` or ``error``.
        cost_usd: the latest ``total_cost_usd`` reported (providers report a running total).
        input_tokens: input tokens, summed over every cost message.
        output_tokens: output tokens, summed over every cost message.
        started_at: when the runner was spawned (``time.time()``).
        ended_at: when the session reached ``done``/``error``, else ``None``.
        exit_code: the runner's return code once reaped (negative: killed by that signal).
        error: why the session (or its last turn) failed, else ``None``.
        pid: the runner's pid (also its process group id).
        messages: messages delivered so far.
        invalid_lines: stdout lines skipped as not JSON objects (or bad envelopes).
        dropped_lines: stdout lines dropped whole for exceeding ``max_line_size``.
        dropped_messages: messages dropped from a full backlog (no consumer attached).
    """

    session_id: str
    provider: str
    status: Status
    cost_usd: float
    input_tokens: int
    output_tokens: int
    started_at: float
    ended_at: float | None
    exit_code: int | None
    error: str | None
    pid: int | None
    messages: int
    invalid_lines: int
    dropped_lines: int
    dropped_messages: int

    @property
    def finished(self) -> bool:
        """True once the session is ``done`` or ``error``."""
        return self.status in _FINAL


class _Subscription:
    """The queue behind one iterator: batches in, bounded, closable from either side."""

    __slots__ = ("_cond", "_items", "_pending", "_closed", "_limit")

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: collections.deque[Any] = collections.deque()
        self._pending = 0
        self._closed = False
        self._limit = limit

    def put(self, batch: list[AgentMessage]) -> None:
        # Back-pressure: a slow iterator slows the stdout thread (and so the runner)
        # instead of growing without bound. close() always releases a waiting put.
        with self._cond:
            while self._pending >= self._limit and not self._closed:
                self._cond.wait()
            if not self._closed:
                self._items.append(batch)
                self._pending += len(batch)
                self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            if not self._closed:
                self._items.append(_END)
                self._cond.notify_all()

    def get(self, timeout: float | None) -> Any:
        """The next batch or ``_END``; raises TimeoutError after ``timeout`` seconds."""
        with self._cond:
            if not self._items and not self._closed:
                if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                    raise TimeoutError
            if not self._items:
                return _END
            item = self._items.popleft()
            if item is not _END:
                self._pending -= len(item)
                self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._pending = 0
            self._cond.notify_all()


class MessageIterator(Iterator[AgentMessage]):
    """Yields a session's messages; see :meth:`SidecarManager.iter_messages`.

    It ends (``StopIteration``) when the current turn is over: the session is idle,
    done or error and every message before that was yielded. ``timeout`` bounds the
    wait for each next message. Close it (or use it as a context manager, or just
    let it go) to unsubscribe.
    """

    def __init__(self, session: Session, subscription: _Subscription, timeout: float | None) -> None:
        self._session_id = session.session_id
        self._subscription = subscription
        self._timeout = timeout
        self._batch: list[AgentMessage] = []
        self._index = 0
        self._done = False
        # Unsubscribes when closed or garbage-collected; never references self.
        self._finalizer = _finalize_subscription(self, session, subscription)

    def __iter__(self) -> MessageIterator:
        return self

    def __next__(self) -> AgentMessage:
        while self._index >= len(self._batch):
            if self._done:
                raise StopIteration
            try:
                item = self._subscription.get(self._timeout)
            except TimeoutError:
                raise WaitTimeoutError(
                    f"session {self._session_id!r}: no message within {self._timeout:g} s"
                ) from None
            if item is _END:
                self.close()
                raise StopIteration
            self._batch, self._index = item, 0
        message = self._batch[self._index]
        self._index += 1
        return message

    def close(self) -> None:
        """Stop iterating and unsubscribe (idempotent)."""
        self._done = True
        self._batch, self._index = [], 0
        self._finalizer()

    def __enter__(self) -> MessageIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _finalize_subscription(owner: object, session: Session, subscription: _Subscription) -> Any:
    import weakref  # noqa: PLC0415 - only iterators need it

    return weakref.finalize(owner, session._unsubscribe, subscription)  # noqa: SLF001


class Session:
    """A running session. Created by :class:`~sidecar_sync.SidecarManager`; not public API.

    Args:
        session_id: the caller's id.
        provider: the provider's name.
        process: the spawned runner.
        adapter: this session's stream adapter (provider events -> messages).
        timers: where stop-escalation timers are started (joined on shutdown).
        on_final: called (on the stdout thread) once the session is done/error.
        message_callbacks, status_callbacks: consumers attached at start.
        max_line_size, max_pending: the decoder's caps.
        stop_grace, kill_grace: the stop ladder (see :meth:`request_stop`).
        backlog: most messages kept while nobody consumes them.
    """

    def __init__(
        self,
        *,
        session_id: str,
        provider: str,
        process: RunnerProcess,
        adapter: StreamAdapter,
        timers: TimerSet,
        on_final: Callable[[Session], None],
        message_callbacks: Sequence[MessageCallback] = (),
        status_callbacks: Sequence[StatusCallback] = (),
        max_line_size: int,
        max_pending: int,
        stop_grace: float,
        kill_grace: float,
        backlog: int,
    ) -> None:
        self.session_id = session_id
        self.provider = provider
        self.process = process
        self._timers = timers
        self._on_final = on_final
        self._stop_grace = stop_grace
        self._kill_grace = kill_grace
        self._pipeline = Pipeline(
            adapter, max_line_size=max_line_size, max_pending=max_pending, label=f"session {session_id!r}"
        )
        self._writer = PipeWriter(process, session_id)

        # All mutable state below is guarded by _lock; _changed signals every status
        # change (waiters loop on their own predicate).
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._status: Status = RUNNING
        self._outstanding = 1  # prompts sent and not yet answered (the first query)
        self._turn_error: str | None = None
        self._error: str | None = None
        self._started_at = time.time()
        self._ended_at: float | None = None
        self._exit_code: int | None = None
        self._backlog: collections.deque[AgentMessage] = collections.deque(maxlen=max(backlog, 1))
        self._backlog_enabled = backlog > 0
        self._dropped_messages = 0
        self._message_callbacks: tuple[MessageCallback, ...] = tuple(message_callbacks)
        self._status_callbacks: tuple[StatusCallback, ...] = tuple(status_callbacks)
        self._subscriptions: tuple[_Subscription, ...] = ()
        self._stop_requested = False
        self._detached = False  # removed: deliver nothing more
        self._escalation: threading.Timer | None = None
        self._final = threading.Event()

        # Owned by the stdout thread only.
        self._reported: str | None = None  # the last status given to status callbacks
        self._stderr_tail = b""
        self._stdout_done = threading.Event()

        name = session_id if len(session_id) <= 40 else session_id[:37] + "..."
        self._stdout_thread = threading.Thread(target=self._read_stdout, name=f"sidecar-stdout-{name}", daemon=True)
        self._stderr_thread = threading.Thread(target=self._read_stderr, name=f"sidecar-stderr-{name}", daemon=True)
        self._exit_thread = threading.Thread(target=self._watch_exit, name=f"sidecar-exit-{name}", daemon=True)
        # The exit watcher starts first: once it runs, the process is always reaped.
        started = []
        try:
            for thread in (self._exit_thread, self._stderr_thread, self._stdout_thread):
                thread.sidecar_session = self  # type: ignore[attr-defined]  # marks our threads
                thread.start()
                started.append(thread)
        except BaseException:
            # Cannot run the session (e.g. no more threads): end the runner, leave no zombie.
            process.signal_group(signal.SIGKILL)
            if self._exit_thread not in started:
                process.reap()
            if self._stdout_thread not in started:
                self._stdout_done.set()
                for thread in started:
                    thread.join(JOIN_TIMEOUT)
                process.close_fds()
            raise

    # -- public surface for the manager -----------------------------------------------

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The session's three threads."""
        return (self._stdout_thread, self._stderr_thread, self._exit_thread)

    @property
    def finished(self) -> bool:
        """True once the final status is set (done/error)."""
        return self._final.is_set()

    @property
    def status(self) -> Status:
        """The current status (no lock: a str read is atomic)."""
        return self._status

    def snapshot(self) -> SessionState:
        """A consistent copy of the session's state."""
        stats = self._pipeline.stats
        usage = self._pipeline.usage
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
                dropped_messages=self._dropped_messages,
            )

    def add_message_callback(self, callback: MessageCallback) -> None:
        """Call ``callback(session_id, messages)`` for every later batch of messages."""
        with self._lock:
            self._message_callbacks += (callback,)

    def add_status_callback(self, callback: StatusCallback) -> None:
        """Call ``callback(session_id, status, error)`` for every later status change."""
        with self._lock:
            self._status_callbacks += (callback,)

    def send_first_query(self, command: dict[str, Any], timeout: float) -> None:
        """Send the session's first query; a runner that is already gone is not an error here.

        The session then ends with the runner's exit status, which says more.
        """
        try:
            self._writer.write(protocol.encode(command), timeout)
        except (RunnerGoneError, WaitTimeoutError) as exc:
            log.warning("session %r: could not send the first query: %s", self.session_id, exc)

    def write_prompt(self, prompt: str, timeout: float) -> None:
        """Send a follow-up prompt; the status becomes ``running`` at once.

        Raises:
            SessionNotActiveError: the session is done/error or being stopped.
            RunnerGoneError: the runner closed its stdin or exited.
            WaitTimeoutError: the runner did not read its stdin within ``timeout``.
        """
        line = protocol.encode(protocol.query_command(self.session_id, prompt))
        with self._lock:
            if self._status in _FINAL:
                raise SessionNotActiveError(self.session_id, self._status, self._error)
            if self._stop_requested:
                raise SessionNotActiveError(self.session_id, "stopping")
            if self._writer.broken is not None:
                reason = f"runner stdin closed ({self._writer.broken})"
                raise SessionNotActiveError(self.session_id, self._status, reason)
            self._outstanding += 1
            previous = self._status
            self._status = RUNNING
        try:
            self._writer.write(line, timeout)
        except BaseException:
            with self._lock:
                self._outstanding -= 1
                if self._status == RUNNING and self._outstanding <= 0 and previous == IDLE:
                    self._status = IDLE
                self._changed.notify_all()
            raise

    def request_stop(self) -> bool:
        """Start the stop ladder: ``stop`` now, SIGTERM to the group after
        ``stop_grace`` s, SIGKILL ``kill_grace`` s later. Returns False if already
        finished or stopping."""
        with self._lock:
            if self._final.is_set() or self._stop_requested:
                return False
            self._stop_requested = True
        try:
            # Never block a stop on a runner that does not read its stdin: the ladder
            # escalates anyway.
            self._writer.write(protocol.encode(protocol.stop_command(self.session_id)), 0.0)
        except (RunnerGoneError, WaitTimeoutError) as exc:
            log.debug("session %r: stop command not delivered: %s", self.session_id, exc)
        timer = self._timers.start(
            f"sidecar-stop-{self.session_id}", self._stop_grace, self._escalate, signal.SIGTERM
        )
        with self._lock:
            self._escalation = timer
        return True

    def kill(self) -> None:
        """Mark the session stopped and SIGKILL the runner's whole process group now."""
        with self._lock:
            self._stop_requested = True
        self.process.signal_group(signal.SIGKILL)

    def detach(self) -> None:
        """Deliver nothing more (the session was removed); end every iterator."""
        with self._lock:
            self._detached = True
            subscriptions, self._subscriptions = self._subscriptions, ()
            self._backlog.clear()
        for subscription in subscriptions:
            subscription.close()

    def join(self, timeout: float = JOIN_TIMEOUT) -> list[threading.Thread]:
        """Join the session's threads (except the calling one); return those still alive."""
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        stuck = []
        for thread in self.threads:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    stuck.append(thread)
        return stuck

    def wait_turn(self, timeout: float | None) -> SessionState:
        """Block until the current turn is over (idle, done or error).

        Raises:
            WaitTimeoutError: still running after ``timeout`` seconds.
            SidecarError: called from this session's own stdout thread (a callback),
                where it could only deadlock.
        """
        self._refuse_own_thread("wait")
        with self._changed:
            if not self._changed.wait_for(lambda: self._status in _TURN_OVER, timeout):
                raise WaitTimeoutError(
                    f"session {self.session_id!r} still {self._status} after {timeout:g} s"
                )
        return self.snapshot()

    def wait_final(self, timeout: float | None) -> bool:
        """Block until done/error; True if it got there in time."""
        return self._final.wait(timeout)

    def subscribe(self, timeout: float | None) -> MessageIterator:
        """An iterator over this session's messages from now (plus the backlog)."""
        self._refuse_own_thread("iter_messages")
        subscription = _Subscription(ITERATOR_LIMIT)
        with self._lock:
            if self._detached:
                subscription.end()
            else:
                backlog = list(self._backlog)
                self._backlog.clear()
                if backlog:
                    subscription._items.append(backlog)  # noqa: SLF001 - fresh, unshared
                    subscription._pending = len(backlog)  # noqa: SLF001
                if self._status in _TURN_OVER:
                    subscription._items.append(_END)  # noqa: SLF001
                self._subscriptions += (subscription,)
        return MessageIterator(self, subscription, timeout)

    def _unsubscribe(self, subscription: _Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)
        subscription.close()

    def _refuse_own_thread(self, what: str) -> None:
        if threading.current_thread() is self._stdout_thread:
            raise SidecarError(
                f"{what}() on session {self.session_id!r} from its own callback would deadlock: "
                "callbacks run on the thread that delivers that session's messages"
            )

    # -- stop ladder ------------------------------------------------------------------

    def _escalate(self, sig: int) -> None:
        if self._final.is_set():
            return
        if self.process.signal_group(sig):
            log.info(
                "session %r: runner did not stop within its grace period; sent %s to its process group",
                self.session_id,
                signal.Signals(sig).name,
            )
        if sig == signal.SIGTERM:
            timer = self._timers.start(
                f"sidecar-kill-{self.session_id}", self._kill_grace, self._escalate, signal.SIGKILL
            )
            with self._lock:
                self._escalation = timer

    # -- stdout: the hot path ---------------------------------------------------------

    def _read_stdout(self) -> None:
        read = os.read
        fd = self.process.stdout_fd
        receive = self._pipeline.receive_data
        deliver = self._deliver
        try:
            while True:
                try:
                    data = read(fd, READ_SIZE)
                except OSError as exc:
                    log.error("session %r: reading stdout failed: %s", self.session_id, exc)
                    break
                if not data:
                    break
                try:
                    for item in receive(data):
                        if type(item) is list:
                            deliver(item)
                        else:
                            self._turn_signal(item)  # type: ignore[arg-type]
                except Exception:
                    log.exception("session %r: failed to process %d bytes of output", self.session_id, len(data))
                # Drop the chunk now, while it is still in this core's caches, not after
                # the next read (bench/README.md, "Hot path").
                data = None  # type: ignore[assignment]
            for item in self._pipeline.receive_eof():
                if type(item) is list:
                    deliver(item)
                else:
                    self._turn_signal(item)  # type: ignore[arg-type]
        except Exception:
            log.exception("session %r: stdout reader failed", self.session_id)
        finally:
            self._stdout_done.set()
            try:
                self._finish()
            except Exception:  # pragma: no cover - last line of defence
                log.exception("session %r: finishing failed", self.session_id)
                self._final.set()

    def _deliver(self, messages: list[AgentMessage]) -> None:
        with self._lock:
            if self._detached:
                return
            subscriptions = self._subscriptions
            callbacks = self._message_callbacks
            if not subscriptions and not callbacks and self._backlog_enabled:
                backlog = self._backlog
                overflow = len(backlog) + len(messages) - backlog.maxlen  # type: ignore[operator]
                if overflow > 0:
                    if not self._dropped_messages:
                        log.warning(
                            "session %r: nobody consumes its messages; dropping the oldest beyond %d",
                            self.session_id,
                            backlog.maxlen,
                        )
                    self._dropped_messages += overflow
                backlog.extend(messages)
        for subscription in subscriptions:
            subscription.put(messages)
        for callback in callbacks:
            try:
                callback(self.session_id, messages)
            except Exception:
                log.exception("session %r: message callback %r raised", self.session_id, callback)

    def _turn_signal(self, signal: TurnSignal) -> None:
        """Apply a turn boundary: agent_started, agent_stopped, agent_error."""
        error: str | None = None
        with self._lock:
            if signal.kind == STARTED:
                self._status = RUNNING
            else:
                if signal.kind == FAILED:
                    error = signal.message
                self._turn_error = self._error = error
                self._outstanding = max(0, self._outstanding - 1)
                if self._outstanding == 0:
                    self._status = IDLE
            status = self._status
            if status == IDLE:
                subscriptions = self._subscriptions
            else:
                subscriptions = ()
            self._changed.notify_all()
        if status == IDLE:
            for subscription in subscriptions:
                subscription.end()
        if status != self._reported or error is not None:
            self._report(status, error)

    def _report(self, status: str, error: str | None) -> None:
        self._reported = status
        if self._detached:
            return
        for callback in self._status_callbacks:
            try:
                callback(self.session_id, status, error)
            except Exception:
                log.exception("session %r: status callback %r raised", self.session_id, callback)

    # -- stderr -----------------------------------------------------------------------

    def _read_stderr(self) -> None:
        fd = self.process.stderr_fd
        partial = b""
        prefix = f"[{self.session_id}]"
        try:
            while True:
                try:
                    data = os.read(fd, 1 << 16)
                except OSError as exc:
                    log.debug("session %r: reading stderr failed: %s", self.session_id, exc)
                    break
                if not data:
                    break
                self._stderr_tail = (self._stderr_tail + data)[-STDERR_TAIL:]
                if log.isEnabledFor(logging.INFO):
                    lines = (partial + data).split(b"\n")
                    partial = lines.pop()[-STDERR_TAIL:]
                    for line in lines:
                        line = line.strip()
                        if line:
                            log.info("%s %s", prefix, line[:1000].decode("utf-8", "replace"))
                else:
                    partial = b""
            if partial.strip() and log.isEnabledFor(logging.INFO):
                log.info("%s %s", prefix, partial.strip()[:1000].decode("utf-8", "replace"))
        except Exception:  # pragma: no cover - never let stderr take the session down
            log.exception("session %r: stderr reader failed", self.session_id)

    def stderr_tail(self, lines: int = 5) -> str:
        """The last ``lines`` non-blank lines the runner wrote to stderr."""
        text = self._stderr_tail.decode("utf-8", "replace")
        kept = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(kept[-lines:])

    # -- exit and the end of the session -------------------------------------------------

    def _watch_exit(self) -> None:
        process = self.process
        try:
            process.wait_exit()
            # Exit is not EOF: a grandchild may still hold stdout. Give the reader a
            # bounded time to drain, then kill what is left of the group. Data already
            # in the pipe stays readable after the writers die, so nothing is lost.
            if not self._stdout_done.wait(self._stop_grace):
                log.info(
                    "session %r: runner exited but its stdout was not at EOF %g s later (a child of it holds it "
                    "open, or the reader is behind); killing the rest of its process group",
                    self.session_id,
                    self._stop_grace,
                )
            process.signal_group(signal.SIGKILL)
        except Exception:  # pragma: no cover
            log.exception("session %r: exit watcher failed", self.session_id)
        finally:
            process.reap()

    def _finish(self) -> None:
        """On the stdout thread after EOF: wait for exit, settle the final status, report."""
        process = self.process
        forced = None
        if not process.exited.wait(self._stop_grace) and not process.has_exited():
            # stdout closed but the runner lives on: it can say nothing more.
            forced = f"runner closed its stdout but did not exit within {self._stop_grace:g} s"
            log.warning("session %r: %s; stopping it", self.session_id, forced)
            process.signal_group(signal.SIGTERM)
            if not process.exited.wait(self._kill_grace) and not process.has_exited():
                process.signal_group(signal.SIGKILL)
        self._exit_thread.join()
        returncode = process.reap()
        self._stderr_thread.join(JOIN_TIMEOUT)
        self._writer.close("the session ended")
        if not self._stderr_thread.is_alive():
            process.close_fds()

        with self._lock:
            if self._stop_requested:
                status, error = DONE, None
            elif returncode == 0 and self._turn_error is None and forced is None:
                status, error = DONE, None
            else:
                parts = [forced] if forced else []
                if self._turn_error:
                    parts.append(self._turn_error)
                if returncode != 0:
                    parts.append(f"runner {describe_exit(returncode)}")
                    tail = self.stderr_tail()
                    if tail:
                        parts.append(f"stderr: {tail}")
                status, error = ERROR, "; ".join(parts)
            self._status = status
            self._error = error
            self._exit_code = returncode
            self._ended_at = time.time()
            self._outstanding = 0
            subscriptions = self._subscriptions
            escalation, self._escalation = self._escalation, None
            self._final.set()
            self._changed.notify_all()
        self._timers.cancel(escalation)
        for subscription in subscriptions:
            subscription.end()
        if status == ERROR:
            log.warning("session %r: %s", self.session_id, error)
        else:
            log.info("session %r: done (runner %s)", self.session_id, describe_exit(returncode))
        self._report(status, error)
        self._on_final(self)


def validate_timeout(timeout: float | None, name: str = "timeout") -> float | None:
    """Check a blocking call's timeout: ``None`` (wait forever) or a number >= 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidOptionError(f"{name} must be a number of seconds or None, got {type(timeout).__name__}")
    if timeout != timeout or timeout < 0:
        raise InvalidOptionError(f"{name} must be >= 0 (or None to wait forever), got {timeout!r}")
    return float(timeout)
