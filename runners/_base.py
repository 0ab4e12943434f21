"""The shared runner framework: one control loop, one turn thread, one writer.

A runner is a small program the manager starts as
``python -m sidecar_sync.runners.<name>``. It speaks the protocol of
:mod:`sidecar_sync.protocol` on stdio, and this module implements that contract
once; a provider only subclasses :class:`Runner` and writes :meth:`Runner.run_turn`.

Who owns what:

* The **main thread** runs :class:`RunnerHost`'s control loop. It reads commands
  from stdin (``select`` on the command fd and a self-pipe, ``os.read``, never
  text mode), answers ``ping`` and bad commands itself, queues queries, and
  handles ``stop``, stdin EOF, EPIPE and signals.
* The **turn thread** (``<name>-turns``) takes queries off the queue one at a
  time and runs :meth:`Runner.run_turn`, bracketed by ``agent_started`` and
  exactly one of ``agent_stopped`` / ``agent_error``.
* The :class:`~runners._output.ProtocolWriter` serialises every write.

File descriptors: at start the host moves the real stdout to a private fd for
the protocol and points fd 1 (and ``sys.stdout``) at stderr, and moves stdin to
a private fd and points fd 0 at ``/dev/null``. So a stray ``print``, a C library
writing to fd 1, or a child process that inherits the default stdio can neither
corrupt the protocol stream nor steal commands.

Contract (what the manager sees on stdout)::

    start                 {"type":"ready"}
    {"type":"ping"}       {"type":"pong"}
    bad line / command    {"type":"error","message":...}   (and the runner goes on)
    {"type":"query",..}   {"type":"agent_started"}
                          {"type":"agent_event","event":{...}}   (any number)
                          {"type":"agent_stopped"} | {"type":"agent_error","message":...}
    query during a turn   queued; runs after the current and earlier queued turns
    {"type":"stop",..}    interrupts the running turn, which ends with agent_stopped;
                          queued queries are dropped; children ended; exit 0
    stdin EOF             current and queued turns finish; children ended; exit 0
    EPIPE on stdout       the turn is interrupted; children ended; exit 0, silently
    SIGTERM/SIGINT/SIGHUP the running turn ends with agent_error naming the signal;
                          children ended; exit 128 + signal number
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar, Final, Iterable, Mapping, Sequence

import orjson

from sidecar_sync.protocol import (
    AGENT_ERROR,
    AGENT_STARTED,
    AGENT_STOPPED,
    ERROR,
    PING,
    PONG,
    QUERY,
    READY,
    STOP,
    encode,
)

from ._options import InvalidOptionError, ProviderConfig, SessionOptions
from ._output import MAX_COMMAND_LINE, CommandReader, OutputClosed, ProtocolWriter

if TYPE_CHECKING:
    from ._children import ChildProcess, ChildRegistry

__all__ = [
    "Runner",
    "Turn",
    "TurnError",
    "RunnerHost",
    "InvalidOptionError",
    "OutputClosed",
    "ProviderConfig",
    "SessionOptions",
    "run",
]

log = logging.getLogger(__name__)

#: How long ``stop`` waits for the running turn to end by itself before the host
#: ends it (writes ``agent_stopped``) and exits anyway; well under the manager's 3 s.
STOP_TURN_GRACE: Final = 1.0
#: Grace between SIGTERM and SIGKILL for a runner's children at exit.
CHILD_GRACE: Final = 0.5
#: Bytes read from the command fd per ``os.read``.
READ_SIZE: Final = 1 << 16
#: Batch size for :meth:`Turn.emit_many`: lines are joined and written in blocks of about this many bytes.
WRITE_BLOCK: Final = 1 << 18

_dumps = orjson.dumps
_EVENT_HEAD: Final = b'{"type":"agent_event","event":'
_EVENT_TAIL: Final = b"}\n"
_STARTED_LINE: Final = encode({"type": AGENT_STARTED})
_STOPPED_LINE: Final = encode({"type": AGENT_STOPPED})


class TurnError(Exception):
    """A turn failed for a reason worth telling the caller as is.

    Raise it from :meth:`Runner.run_turn`: the host writes ``agent_error`` with
    ``str(exc)`` as the message (other exceptions get their type name prefixed
    and a traceback on stderr).
    """


class Turn:
    """One query being answered: its prompt, its stop flag, and its output.

    Every write of a turn goes through the turn, so that nothing of it can be
    written after its final line, even when the host had to end it by force.

    Attributes:
        number: 1 for the session's first query, then 2, 3, ...
        prompt: the user's prompt.
        session_id: the manager's session id (``sessionId`` of the query).
        options: the session's options (from its first query).
    """

    __slots__ = ("number", "prompt", "session_id", "options", "_writer", "_stop", "_ended", "started_at")

    def __init__(self, number: int, prompt: str, session_id: str, options: SessionOptions, writer: ProtocolWriter):
        self.number = number
        self.prompt = prompt
        self.session_id = session_id
        self.options = options
        self._writer = writer
        self._stop = threading.Event()
        self._ended = False
        self.started_at = 0.0

    # -- stopping --------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True once ``stop`` (or a signal, or EPIPE) asked this turn to end."""
        return self._stop.is_set()

    @property
    def ended(self) -> bool:
        """True once the turn's final line was written."""
        return self._ended

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on stop. Returns :attr:`stopped`."""
        if seconds > 0:
            return self._stop.wait(seconds)
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    # -- output ----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> bool:
        """Write complete protocol lines (already encoded), unless the turn has ended.

        Returns:
            False if the turn had already ended and nothing was written.

        Raises:
            OutputClosed: the manager is gone.
        """
        writer = self._writer
        with writer.lock:
            if self._ended:
                return False
            writer.write_locked(data)
            return True

    def emit(self, event: Mapping[str, Any]) -> bool:
        """Write one provider event as ``{"type":"agent_event","event":event}``."""
        return self.write(_EVENT_HEAD + _dumps(event) + _EVENT_TAIL)

    def emit_many(self, events: Iterable[Mapping[str, Any]]) -> bool:
        """Write many provider events with few syscalls (blocks of ~256 KiB).

        Stops early (returning False) if the turn ended or was asked to stop.
        """
        parts: list[bytes] = []
        size = 0
        for event in events:
            line = _EVENT_HEAD + _dumps(event) + _EVENT_TAIL
            parts.append(line)
            size += len(line)
            if size >= WRITE_BLOCK:
                if not self.write(b"".join(parts)) or self.stopped:
                    return False
                parts.clear()
                size = 0
        return self.write(b"".join(parts)) if parts else not self._ended

    def emit_lines(self, lines: Sequence[bytes]) -> bool:
        """Wrap already-serialised JSON object lines (no newline) as ``agent_event`` lines.

        The fast path for a runner forwarding a CLI's stdout: no parse, no
        re-encode. Each line must be one JSON object (``{...}``, trimmed, no
        ``\\n``); a line that is not is skipped here and logged on stderr, so it
        can never break the wrapper's JSON.
        """
        out: list[bytes] = []
        for line in lines:
            if len(line) >= 2 and line[:1] == b"{" and line[-1:] == b"}" and b"\n" not in line:
                out.append(_EVENT_HEAD + line + _EVENT_TAIL)
            elif line.strip():
                log.warning("skipping a non-object output line: %r", line[:200])
        return self.write(b"".join(out)) if out else not self._ended

    def _finish(self, line: bytes, timeout: float | None = None) -> bool:
        """Write the turn's final line once; False if it had already ended.

        Args:
            line: the encoded ``agent_stopped`` / ``agent_error`` line.
            timeout: for the control thread: give up after this many seconds if
                the turn thread holds the writer (blocked on a full pipe).
        """
        writer = self._writer
        if not writer.lock.acquire(timeout=-1 if timeout is None else timeout):
            log.warning("could not write the end of turn %d: the output is blocked", self.number)
            return False
        try:
            if self._ended:
                return False
            self._ended = True
            writer.write_locked(line)
            return True
        finally:
            writer.lock.release()


class Runner:
    """Base class of a provider runner; subclass it and implement :meth:`run_turn`.

    Lifecycle, all on the turn thread unless said otherwise:

    1. :meth:`configure` once, with the options of the session's first query
       (raise :class:`InvalidOptionError` for a bad one: every turn of the
       session then fails with that message).
    2. :meth:`run_turn` per query. Emit events with :meth:`Turn.emit`; check
       :attr:`Turn.stopped` between steps; sleep with :meth:`Turn.sleep`; raise
       :class:`TurnError` (or anything) to fail the turn. Returning normally
       ends the turn with ``agent_stopped``, as does anything raised after a
       stop was requested.
    3. :meth:`interrupt` is called **on the control thread** when a stop arrives
       during a turn: wake whatever :meth:`run_turn` is blocked on (close a
       socket, send a CLI its interrupt). The default does nothing beyond the
       stop flag.
    4. :meth:`close` at exit, on the control thread: the default ends every child
       started with :meth:`spawn`.
    """

    #: The provider name, used in thread names and messages.
    name: ClassVar[str] = "runner"

    def __init__(self) -> None:
        self._children: ChildRegistry | None = None

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> Runner:
        """Build the runner from its command-line arguments (those after ``-m <module>``).

        Used by ``run(cls, sys.argv[1:])``. The default takes none; a runner with
        arguments overrides this (or parses them itself and calls ``run(cls)``).
        Raising ``SystemExit`` with a message rejects bad ones, before ``ready``.
        """
        if argv:
            raise SystemExit(f"{cls.name} runner: unexpected arguments {list(argv)!r}")
        return cls()

    def configure(self, options: SessionOptions) -> None:
        """Check and keep the session options (first query only)."""

    def run_turn(self, turn: Turn) -> None:
        """Answer one query. Runs on the turn thread."""
        raise NotImplementedError

    def interrupt(self, turn: Turn) -> None:
        """Wake :meth:`run_turn` after ``turn`` was asked to stop (control thread)."""

    def close(self) -> None:
        """Release everything at exit: by default, end all children."""
        if self._children is not None:
            self._children.terminate_all(CHILD_GRACE)

    # -- children --------------------------------------------------------------

    def spawn(self, argv: Sequence[str], **kwargs: Any) -> ChildProcess:
        """Start a child process in the runner's process group; it ends with the runner.

        Keyword arguments are those of :class:`~runners._children.ChildProcess`
        (``cwd``, ``env``, ``stdin``, ``stdout``, ``forward_stderr``); ``name``
        defaults to the runner's name.
        """
        from ._children import ChildProcess, ChildRegistry  # subprocess only when needed

        if self._children is None:
            self._children = ChildRegistry()
        kwargs.setdefault("name", self.name)
        return ChildProcess(argv, registry=self._children, **kwargs)

    def live_children(self) -> list[ChildProcess]:
        """Children started with :meth:`spawn` that were not reaped yet."""
        return self._children.live() if self._children is not None else []


class RunnerHost:
    """Runs a :class:`Runner` over a command fd and a protocol fd (the control loop).

    Args:
        runner: the provider runner.
        command_fd: where commands are read (the runner's stdin).
        output_fd: where protocol lines go (the runner's stdout).
        handle_signals: install SIGTERM/SIGINT/SIGHUP handlers (main thread only).
        max_command_line: the longest command line accepted, in bytes.
    """

    def __init__(
        self,
        runner: Runner,
        command_fd: int,
        output_fd: int,
        *,
        handle_signals: bool = True,
        max_command_line: int = MAX_COMMAND_LINE,
    ) -> None:
        self.runner = runner
        self._max_command_line = max_command_line
        self._command_fd = command_fd
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self.writer = ProtocolWriter(output_fd, on_closed=self._wake)
        self._handle_signals = handle_signals
        self._signal: int | None = None

        # Turn bookkeeping, guarded by _cond; notified when a query is queued, a
        # turn ends, or the host starts shutting down.
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, str]] = deque()  # (session_id, prompt)
        self._current: Turn | None = None
        self._no_more_turns = False  # EOF, stop or shutdown: the queue gets nothing new
        self._drop_queue = False  # stop/shutdown: queued queries are discarded

        self._options: SessionOptions | None = None
        self._options_error: InvalidOptionError | None = None
        self._configured = False
        self._turns_done = False  # set by the turn thread just before it exits
        self._turns_started = 0
        self._thread = threading.Thread(target=self._turn_loop, name=f"{runner.name}-turns", daemon=True)

    # -- control thread --------------------------------------------------------

    def serve(self) -> int:
        """Run until stop, stdin EOF, EPIPE or a signal. Returns the exit code."""
        if self._handle_signals:
            self._install_signals()
        try:
            self._send(encode({"type": READY}))
            self._thread.start()
            code = self._control_loop()
        except OutputClosed:
            code = 0
        finally:
            self._shutdown()
        return code

    def _control_loop(self) -> int:
        reader = CommandReader(self._max_command_line)
        command_fd, wake_r = self._command_fd, self._wake_r
        eof = False
        while True:
            watched = [wake_r] if eof else [command_fd, wake_r]
            ready, _, _ = select.select(watched, [], [])
            if wake_r in ready:
                self._drain_wake()
                if self._signal is not None:
                    return self._on_signal(self._signal)
                if self.writer.closed:
                    self._interrupt_all("the manager is gone (EPIPE)")
                    return 0
                if eof and self._turns_done:
                    return 0
            if not eof and command_fd in ready:
                try:
                    data = os.read(command_fd, READ_SIZE)
                except OSError as exc:
                    log.warning("reading commands failed: %s; treating it as end of input", exc)
                    data = b""
                lines = reader.feed(data) if data else reader.finish()
                for line in lines:
                    if self._handle_line(line):
                        return 0
                if not data:
                    eof = True
                    self._end_of_input()
                    if self._turns_done:
                        return 0

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
            if self._no_more_turns:
                return
            self._queue.append((session_id, prompt))
            self._cond.notify_all()

    def _on_stop(self) -> None:
        """Interrupt the running turn, drop queued ones, and let it end (bounded)."""
        turn = self._interrupt_all(None)
        if turn is not None:
            deadline = time.monotonic() + STOP_TURN_GRACE
            with self._cond:
                while self._current is turn and not turn.ended:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if not turn.ended:
                log.warning("turn %d did not end within %.1fs of stop; ending it", turn.number, STOP_TURN_GRACE)
                try:
                    turn._finish(_STOPPED_LINE, timeout=STOP_TURN_GRACE)  # noqa: SLF001 - the host ends turns
                except OutputClosed:
                    pass

    def _end_of_input(self) -> None:
        with self._cond:
            self._no_more_turns = True
            self._cond.notify_all()

    def _interrupt_all(self, reason: str | None) -> Turn | None:
        """Close the queue, drop queued queries, ask the running turn to stop."""
        with self._cond:
            self._no_more_turns = True
            self._drop_queue = True
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
            try:
                turn._finish(message, timeout=STOP_TURN_GRACE)  # noqa: SLF001 - the host ends turns
            except OutputClosed:
                pass
        self._interrupt_all(f"received {name}")
        return 128 + signum

    def _shutdown(self) -> None:
        self._interrupt_all(None)
        try:
            self.runner.close()
        except Exception:
            log.exception("%s runner: close failed", self.runner.name)
        if self._thread.is_alive():
            # Its final line is written (or the turn is being ended); do not wait
            # long for a runner that ignores interrupts.
            self._thread.join(0.2)
        if self._handle_signals:
            signal.set_wakeup_fd(-1)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _complain(self, message: str) -> None:
        log.warning("bad command: %s", message)
        self._send(encode({"type": ERROR, "message": message}))

    def _send(self, line: bytes) -> None:
        self.writer.write(line)

    # -- waking the control loop -----------------------------------------------

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (already awake) or closed (shutting down)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _install_signals(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            # Runs on the main thread between bytecodes; only set a flag: the
            # wakeup fd below makes select() return so the loop acts on it.
            if self._signal is None:
                self._signal = signum

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

    # -- turn thread -----------------------------------------------------------

    def _turn_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._no_more_turns:
                        self._cond.wait()
                    if not self._queue or self._drop_queue:
                        return
                    session_id, prompt = self._queue.popleft()
                    self._turns_started += 1
                    turn = Turn(
                        self._turns_started,
                        prompt,
                        session_id,
                        self._options or SessionOptions(),
                        self.writer,
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
        finally:
            self._turns_done = True
            self._wake()

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
                turn._finish(_STOPPED_LINE)  # noqa: SLF001
                return
            if isinstance(exc, (TurnError, InvalidOptionError)):
                message = str(exc)
                log.warning("turn %d failed: %s", turn.number, message)
            else:
                message = f"{type(exc).__name__}: {exc}"
                log.exception("turn %d failed", turn.number)
            if isinstance(exc, InvalidOptionError) and self._options_error is None:
                self._options_error = exc  # a session with bad options stays failed
            turn._finish(encode({"type": AGENT_ERROR, "message": message}))  # noqa: SLF001
            return
        turn._finish(_STOPPED_LINE)  # noqa: SLF001


def _isolate_stdio() -> tuple[int, int]:
    """Move stdin/stdout to private fds; point fd 0 at /dev/null and fd 1 at stderr.

    Returns:
        ``(command_fd, output_fd)``.
    """
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        command_fd = os.dup(0)  # dup() fds are non-inheritable: children never see them
    except OSError:  # started with stdin closed: no commands will ever come
        command_fd = os.dup(devnull)
    output_fd = os.dup(1)  # (stdout closed at start: OSError, nobody to talk to)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return command_fd, output_fd


def run(runner_class: type[Runner], argv: Sequence[str] | None = None) -> None:
    """The ``__main__`` of a runner: isolate stdio, serve, exit with the host's code.

    Args:
        runner_class: the runner to serve.
        argv: its command-line arguments, for :meth:`Runner.from_argv` (pass
            ``sys.argv[1:]``). ``None``: the caller parsed them already, and the
            runner is built with no arguments.
    """
    level = os.environ.get("SIDECAR_SYNC_RUNNER_LOG", "WARNING").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.WARNING),
        stream=sys.stderr,
        format=f"{runner_class.name}-runner %(levelname)s %(name)s: %(message)s",
    )
    runner = runner_class() if argv is None else runner_class.from_argv(argv)
    command_fd, output_fd = _isolate_stdio()
    host = RunnerHost(runner, command_fd, output_fd)
    code = host.serve()
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    # The turn thread is a daemon and may still sit in a blocking call of a
    # runner that ignored its interrupt; do not let interpreter teardown wait on
    # it or run finalisers that might write to a dead pipe.
    os._exit(code)
