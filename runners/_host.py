"""The runner's control loop: commands in, turns out, and every way a runner ends.

:class:`RunnerHost` serves one :class:`~runners._runner.Runner` over a command fd
(the runner's stdin) and a protocol fd (its stdout). Its class docstring is the
runner side of the wire protocol.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import orjson

from sidecar_sync.options import InvalidOptionError, SessionOptions
from sidecar_sync.protocol import (
    AGENT_ERROR,
    AGENT_STARTED,
    AGENT_STOPPED,
    ERROR,
    PERMISSION_RESPONSE,
    PING,
    PONG,
    QUERY,
    READY,
    STOP,
    PermissionWireError,
    encode,
    read_permission_response,
)

from ._lifeline import (
    PARENT_DEATH_SIGNAL,
    PARENT_POLL,
    kill_strays,
    parent_alive,
    set_parent_death_signal,
    snapshot_strays,
)
from ._output import MAX_COMMAND_LINE, CommandReader, OutputClosed, ProtocolWriter
from ._turn import Turn, TurnError

if TYPE_CHECKING:
    from ._runner import Runner

__all__ = ["RunnerHost", "STOP_TURN_GRACE", "HOST_GONE_TURN_GRACE"]

log = logging.getLogger(__name__)

#: How long ``stop`` waits for the running turn to end by itself before the host
#: ends it (writes ``agent_stopped``) and exits anyway; well under the manager's 3 s.
STOP_TURN_GRACE: Final = 1.0
#: The same once the host is gone: the turn gets this long to end cleanly (the
#: Claude Code CLI records an interrupt in its transcript), then the runner moves on.
HOST_GONE_TURN_GRACE: Final = 0.3
#: Bytes read from the command fd per ``os.read``.
READ_SIZE: Final = 1 << 16
#: How long the control thread waits for the turn thread at exit.
TURN_THREAD_JOIN: Final = 0.2

_STARTED_LINE: Final = encode({"type": AGENT_STARTED})
_STOPPED_LINE: Final = encode({"type": AGENT_STOPPED})
_EXIT_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class RunnerHost:
    """Runs a :class:`~runners._runner.Runner` over a command fd and a protocol fd.

    Threads: the **control thread** (the caller of :meth:`serve`, the main thread
    in a runner process) reads commands (``select`` on the command fd and a
    self-pipe woken by signals, the writer and the turn thread; ``os.read``, never
    text mode), answers ``ping`` and bad commands itself, queues queries, and acts
    on ``stop``, signals and the host's death. The **turn thread**
    (``<name>-turns``) takes queries off the queue one at a time and runs
    :meth:`Runner.run_turn`, bracketed by ``agent_started`` and exactly one of
    ``agent_stopped`` / ``agent_error``.

    The protocol, as this host speaks it (one JSON object per line)::

        start                 {"type":"ready"}
        {"type":"ping"}       {"type":"pong"}                 (at once, even during a turn)
        bad line / command    {"type":"error","message":...}  (and the runner goes on)
        {"type":"query",..}   {"type":"agent_started"}
                              {"type":"agent_event","event":{...}}   (any number)
                              {"type":"agent_stopped"} | {"type":"agent_error","message":...}
        query during a turn   queued; runs after the current and earlier queued turns
        (a turn asks)         {"type":"permission_request","requestId":..,...}  (Turn.ask_permission)
        {"type":"permission_response",..}
                              Runner.permission_response(...) on this thread, at once
        {"type":"stop",..}    the running turn is interrupted and ends with agent_stopped
                              (forced after STOP_TURN_GRACE); queued queries are dropped;
                              children ended; exit 0
        the host is gone      the running turn is interrupted and ends with agent_stopped
          (stdin EOF, EPIPE   (forced after HOST_GONE_TURN_GRACE, never blocking on a full
          on stdout, or a     pipe); queued queries are dropped; children ended at once
          parent change)      (short grace, then SIGKILL); exit 0, quietly
        SIGTERM/SIGINT/SIGHUP the running turn ends with agent_error naming the signal;
                              children ended; exit 128 + signal number

    The first query's options are read with ``SessionOptions.from_wire``; a bad
    one fails every turn of the session with ``agent_error`` naming it.
    Follow-ups carry only a prompt (options on them are ignored, logged).

    Args:
        runner: the provider runner.
        command_fd: where commands are read (the runner's stdin).
        output_fd: where protocol lines go (the runner's stdout).
        handle_signals: install the signal handlers (main thread only): SIGTERM,
            SIGINT, SIGHUP, and the parent-death signal when ``host_pid`` is given.
        max_command_line: the longest command line accepted, in bytes.
        host_pid: the runner's parent, recorded at start-up: watch it (parent
            changes, and the parent-death signal with ``handle_signals``). None:
            stdin EOF and EPIPE are the only signs of the host's death.
        sweep: at exit, SIGKILL every process the runner started that is still
            alive (for a runner process; never in a process that is not one).
    """

    def __init__(
        self,
        runner: Runner,
        command_fd: int,
        output_fd: int,
        *,
        handle_signals: bool = True,
        max_command_line: int = MAX_COMMAND_LINE,
        host_pid: int | None = None,
        sweep: bool = False,
    ) -> None:
        self.runner = runner
        self._max_command_line = max_command_line
        self._command_fd = command_fd
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self.writer = ProtocolWriter(output_fd, on_closed=self._wake)
        self._handle_signals = handle_signals
        self._host_pid = host_pid
        self._sweep = sweep
        self._signal: int | None = None
        self._parent_signalled = False

        # Turn bookkeeping, guarded by _cond; notified when a query is queued, a
        # turn ends, or the host starts shutting down.
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, str]] = deque()  # (session_id, prompt)
        self._current: Turn | None = None
        self._closed = False  # stop, the host's death, a signal: no more turns start

        self._options: SessionOptions | None = None
        self._options_error: InvalidOptionError | None = None
        self._configured = False
        self._turns_started = 0
        self._thread = threading.Thread(target=self._turn_loop, name=f"{runner.name}-turns", daemon=True)

    # -- control thread --------------------------------------------------------

    def serve(self) -> int:
        """Run until stop, the host's death or a signal. Returns the exit code."""
        if self._handle_signals:
            self._install_signals()
        try:
            self._send(encode({"type": READY}))
            self._thread.start()
            code = self._control_loop()
        except OutputClosed:
            code = self._on_host_gone("the manager stopped reading (EPIPE)")
        finally:
            self._shutdown()
        return code

    def _control_loop(self) -> int:
        reader = CommandReader(self._max_command_line)
        command_fd, wake_r = self._command_fd, self._wake_r
        host_pid = self._host_pid
        poll = None if host_pid is None else PARENT_POLL
        while True:
            if host_pid is not None and not parent_alive(host_pid):
                return self._on_host_gone(f"the parent process {host_pid} exited")
            ready, _, _ = select.select([command_fd, wake_r], [], [], poll)
            if wake_r in ready:
                self._drain_wake()
                if self._signal is not None:
                    return self._on_signal(self._signal)
                if self._parent_signalled and host_pid is not None:
                    self._parent_signalled = False
                    if not parent_alive(host_pid):
                        return self._on_host_gone("parent-death signal")
                    log.info("parent-death signal, but the host (pid %d) lives (a thread of it ended): ignored",
                             host_pid)
                if self.writer.closed:
                    return self._on_host_gone("the manager stopped reading (EPIPE)")
            if command_fd in ready:
                try:
                    data = os.read(command_fd, READ_SIZE)
                except OSError as exc:
                    log.warning("reading commands failed: %s; treating it as end of input", exc)
                    data = b""
                for line in reader.feed(data) if data else reader.finish():
                    if self._handle_line(line):
                        return 0
                if not data:
                    return self._on_host_gone("stdin closed")

    def _handle_line(self, line: bytes | None) -> bool:
        """Act on one command line; True when the runner must exit (``stop``)."""
        if line is None:
            self._complain(f"command line too long (limit {self._max_command_line} bytes); dropped")
            return False
        try:
            command = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            self._complain(f"invalid JSON command: {exc}")
            return False
        if not isinstance(command, dict):
            self._complain(f"a command must be a JSON object, got {type(command).__name__}")
            return False
        kind = command.get("type")
        if kind == PING:
            self._send(encode({"type": PONG}))
        elif kind == QUERY:
            self._on_query(command)
        elif kind == STOP:
            self._on_stop()
            return True
        elif kind == PERMISSION_RESPONSE:
            self._on_permission_response(command)
        elif isinstance(kind, str):
            self._complain(f"unknown command type {kind[:80]!r}")
        else:
            self._complain("command has no string 'type'")
        return False

    def _on_query(self, command: dict[str, Any]) -> None:
        prompt = command.get("prompt")
        session_id = command.get("sessionId")
        if not isinstance(prompt, str):
            self._complain("query needs a string 'prompt'")
            return
        if not isinstance(session_id, str):
            self._complain("query needs a string 'sessionId'")
            return
        if self._options is None and self._options_error is None:
            try:
                self._options = SessionOptions.from_wire(command)
            except InvalidOptionError as exc:
                self._options_error = exc
        elif len(command) > 3:
            ignored = sorted(k for k in command if k not in ("type", "prompt", "sessionId"))
            log.info("follow-up query: options come from the first query; ignoring %s", ", ".join(ignored))
        with self._cond:
            if self._closed:
                return
            self._queue.append((session_id, prompt))
            self._cond.notify_all()

    def _on_permission_response(self, command: dict[str, Any]) -> None:
        """Hand the manager's answer to a tool request to the runner (it must not block)."""
        try:
            response = read_permission_response(command)
        except PermissionWireError as exc:
            self._complain(str(exc))
            return
        try:
            self.runner.permission_response(response)
        except Exception:
            log.exception("%s runner: handling the permission answer %r failed", self.runner.name, response.request_id)

    def _on_stop(self) -> None:
        """Interrupt the running turn, drop queued ones, and let it end (bounded)."""
        turn = self._interrupt_all(None)
        if turn is not None:
            self._end_turn(turn, STOP_TURN_GRACE, "stop")

    def _on_host_gone(self, reason: str) -> int:
        """The host is gone: end the turn quickly, never block on output; exit 0 (then :meth:`_shutdown`)."""
        log.info("the host is gone (%s): ending the turn and exiting", reason)
        self.runner.host_gone = True
        self.writer.never_block()
        turn = self._interrupt_all(reason)
        if turn is not None:
            self._end_turn(turn, HOST_GONE_TURN_GRACE, reason)
        return 0

    def _end_turn(self, turn: Turn, grace: float, why: str) -> None:
        """Wait up to ``grace`` for an interrupted turn to end by itself, then write its ``agent_stopped``."""
        deadline = time.monotonic() + grace
        with self._cond:
            while self._current is turn and not turn.ended:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        if not turn.ended:
            log.info("turn %d did not end within %.1fs (%s); ending it", turn.number, grace, why)
            with contextlib.suppress(OutputClosed):
                turn.finish(_STOPPED_LINE, timeout=grace)

    def _interrupt_all(self, reason: str | None) -> Turn | None:
        """Start no more turns, drop queued queries, ask the running turn to stop."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            turn = self._current
            self._cond.notify_all()
        if turn is not None and not turn.stopped:
            if reason:
                log.info("interrupting turn %d: %s", turn.number, reason)
            turn.request_stop()
            try:
                self.runner.interrupt(turn)
            except Exception:
                log.exception("%s runner: interrupt failed", self.runner.name)
        return turn

    def _on_signal(self, signum: int) -> int:
        name = signal.Signals(signum).name
        with self._cond:
            turn = self._current
        if turn is not None:
            # End it first, so the turn's own (normal) ending cannot win the race.
            message = encode({"type": AGENT_ERROR, "message": f"runner terminated by {name}"})
            with contextlib.suppress(OutputClosed):
                turn.finish(message, timeout=STOP_TURN_GRACE)
        self._interrupt_all(f"received {name}")
        return 128 + signum

    def _shutdown(self) -> None:
        self._interrupt_all(None)
        strays = snapshot_strays() if self._sweep else {}
        try:
            self.runner.close()
        except Exception:
            log.exception("%s runner: close failed", self.runner.name)
        if self._sweep:
            kill_strays(strays)
        if self._thread.is_alive():
            # Its final line is written (or the turn is being ended); do not wait
            # long for a runner that ignores interrupts.
            self._thread.join(TURN_THREAD_JOIN)
        if self._handle_signals:
            signal.set_wakeup_fd(-1)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _complain(self, message: str) -> None:
        log.warning("bad command: %s", message)
        self._send(encode({"type": ERROR, "message": message}))

    def _send(self, line: bytes) -> None:
        self.writer.write(line)

    # -- waking the control loop -----------------------------------------------

    def _wake(self) -> None:
        # A full pipe means the loop is already awake; a closed one, that it is shutting down.
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except OSError:
            pass

    def _install_signals(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            # Runs on the main thread between bytecodes; only set a flag: the
            # wakeup fd below makes select() return so the loop acts on it.
            if self._signal is None:
                self._signal = signum

        def on_parent_death(_signum: int, _frame: Any) -> None:
            self._parent_signalled = True

        for sig in _EXIT_SIGNALS:
            signal.signal(sig, on_signal)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        if self._host_pid is not None:
            signal.signal(PARENT_DEATH_SIGNAL, on_parent_death)
            # Armed only after its handler: the signal's default action would end the runner.
            set_parent_death_signal(PARENT_DEATH_SIGNAL)

    # -- turn thread -----------------------------------------------------------

    def _turn_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    session_id, prompt = self._queue.popleft()
                    self._turns_started += 1
                    turn = Turn(
                        self._turns_started, prompt, session_id, self._options or SessionOptions(), self.writer
                    )
                    self._current = turn
                try:
                    self._run_one(turn)
                finally:
                    with self._cond:
                        self._current = None
                        self._cond.notify_all()
        except OutputClosed:
            pass  # the control loop was woken by the writer and exits quietly

    def _run_one(self, turn: Turn) -> None:
        if not turn.write(_STARTED_LINE):
            return
        turn.started_at = time.monotonic()
        try:
            if self._options_error is not None:
                raise self._options_error
            if not self._configured:
                self.runner.configure(turn.options)
                self._configured = True
            self.runner.run_turn(turn)
        except OutputClosed:
            raise
        except BaseException as exc:  # even SystemExit: a runner bug must not kill the turn thread
            if turn.stopped:
                log.debug("turn %d raised after stop: %r", turn.number, exc)
                turn.finish(_STOPPED_LINE)
                return
            if isinstance(exc, (TurnError, InvalidOptionError)):
                message = str(exc)
                log.warning("turn %d failed: %s", turn.number, message)
            else:
                message = f"{type(exc).__name__}: {exc}"
                log.exception("turn %d failed", turn.number)
            if isinstance(exc, InvalidOptionError) and self._options_error is None:
                self._options_error = exc  # a session with bad options stays failed
            failure = {"type": AGENT_ERROR, "message": message}
            outcome = getattr(exc, "outcome", None) if isinstance(exc, TurnError) else None
            if outcome:
                failure["outcome"] = outcome
            turn.finish(encode(failure))
            return
        turn.finish(_STOPPED_LINE)
