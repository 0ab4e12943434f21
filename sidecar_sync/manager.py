"""``SidecarManager``: the thread-safe registry of sessions and its public API.

The manager validates everything a caller hands it (DESIGN §5) before anything is
spawned, starts runners through the provider registry, keeps ``session id ->
Session`` under one lock, and owns the timers (stop escalation, delayed cleanup)
and the teardown. It never holds its lock while calling user code or blocking on
a process: callbacks may call any manager method, including stopping or removing
their own session.

Teardown is layered: ``remove_session`` kills one runner; ``shutdown`` (and leaving
a ``with`` block) stops every runner along the stop ladder, cancels the timers and
joins every thread the manager started; a ``weakref.finalize`` kills whatever
process groups are still alive if a manager is dropped or the interpreter exits
without a shutdown.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import weakref
from typing import Any, Mapping, Sequence

import orjson

from . import protocol
from .env import build_runner_env, check_directory, validate_extra_env
from .errors import (
    InvalidOptionError,
    SessionExistsError,
    SessionNotFoundError,
    SidecarError,
    UnknownProviderError,
)
from .framer import MAX_LINE_SIZE, MAX_PENDING
from .adapters import adapter_names, new_stream_adapter
from .messages import StreamAdapter
from .process import RunnerProcess, spawn
from .providers import BUILTIN_PROVIDERS, AdapterSpec, LaunchSettings, Provider, custom_provider
from .session import (
    JOIN_TIMEOUT,
    MessageCallback,
    MessageIterator,
    Session,
    SessionState,
    StatusCallback,
    validate_timeout,
)
from .timers import TimerSet

__all__ = ["SidecarManager"]

log = logging.getLogger(__name__)

#: Seconds a prompt write may wait for the runner to read its stdin.
WRITE_TIMEOUT = 10.0


class _ProcessTable:
    """Live runner processes by pid, shared with the last-resort finalizer (no ref to the manager)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.processes: dict[int, RunnerProcess] = {}

    def add(self, process: RunnerProcess) -> None:
        with self.lock:
            self.processes[process.pid] = process

    def discard(self, process: RunnerProcess) -> None:
        with self.lock:
            if self.processes.get(process.pid) is process:
                del self.processes[process.pid]


def _kill_leftovers(table: _ProcessTable) -> None:
    """Last resort (manager garbage-collected or interpreter exiting): SIGKILL every group."""
    with table.lock:
        processes = list(table.processes.values())
    for process in processes:
        if process.signal_group(signal.SIGKILL):
            log.warning("killed runner process group %d left running by an unclosed SidecarManager", process.pid)


def _session_thread() -> Session | None:
    """The session whose thread is running this code, if any."""
    return getattr(threading.current_thread(), "sidecar_session", None)


class SidecarManager:
    """Starts, feeds, watches and stops agent sidecar sessions, one runner process each.

    Args:
        python: the interpreter built-in runners are started with.
        stop_grace: seconds between the ``stop`` command and SIGTERM to the runner's
            process group; also how long stdout may stay open after the runner exits
            (a child holding it) before the group is killed.
        cleanup_grace: seconds a done/error session stays listed before it is removed.
        max_line_size: longest stdout line accepted (longer ones are dropped whole, counted).
        max_pending: most bytes buffered per session between reads.
        claude_path: the Claude Code CLI to use (default: discovered as in the seed).
        codex_path: the Codex CLI to use (default: discovered).
        kill_grace: seconds between SIGTERM and SIGKILL in the stop ladder. The full
            timeline of ``stop_session``: ``stop`` at 0, SIGTERM at ``stop_grace``,
            SIGKILL at ``stop_grace + kill_grace``, all to the whole process group.
        message_backlog: most messages kept for the next iterator while a session has no
            consumer (callback or open iterator); the oldest are dropped beyond it.
        write_timeout: seconds a prompt write may wait for the runner to read its stdin.

    Use it as a context manager (or call :meth:`shutdown`) so that no runner, thread or
    timer outlives it.
    """

    def __init__(
        self,
        *,
        python: str = sys.executable,
        stop_grace: float = 3.0,
        cleanup_grace: float = 60.0,
        max_line_size: int = MAX_LINE_SIZE,
        max_pending: int = MAX_PENDING,
        claude_path: str | None = None,
        codex_path: str | None = None,
        kill_grace: float = 2.0,
        message_backlog: int = 10_000,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        try:
            python = os.fspath(python)
        except TypeError:
            raise InvalidOptionError(f"python must be a path (str or path-like), got {python!r}") from None
        if not isinstance(python, str) or not python or "\0" in python:
            raise InvalidOptionError(f"python must be a non-empty str path, got {python!r}")
        for name, value in (
            ("stop_grace", stop_grace),
            ("cleanup_grace", cleanup_grace),
            ("kill_grace", kill_grace),
            ("write_timeout", write_timeout),
        ):
            validate_timeout(value, name)
            if value is None:
                raise InvalidOptionError(f"{name} must be a number of seconds, got None")
        for name, value in (("max_line_size", max_line_size), ("max_pending", max_pending)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidOptionError(f"{name} must be a positive int, got {value!r}")
        if max_line_size > max_pending:
            raise InvalidOptionError(
                f"max_line_size ({max_line_size}) must not exceed max_pending ({max_pending})"
            )
        if isinstance(message_backlog, bool) or not isinstance(message_backlog, int) or message_backlog < 0:
            raise InvalidOptionError(f"message_backlog must be an int >= 0, got {message_backlog!r}")
        self._settings = LaunchSettings(python=python, claude_path=claude_path, codex_path=codex_path)
        self._stop_grace = float(stop_grace)
        self._kill_grace = float(kill_grace)
        self._cleanup_grace = float(cleanup_grace)
        self._max_line_size = max_line_size
        self._max_pending = max_pending
        self._backlog = message_backlog
        self._write_timeout = float(write_timeout)

        # _lock guards the registries below; never held while calling user code,
        # spawning, writing to a runner or joining a thread.
        self._lock = threading.Lock()
        self._providers: dict[str, Provider] = dict(BUILTIN_PROVIDERS)
        self._sessions: dict[str, Session] = {}
        self._starting: set[str] = set()
        self._cleanup: dict[str, tuple[threading.Timer, Session]] = {}
        self._retired: list[Session] = []  # removed sessions whose threads may still run
        self._closed = False
        self._timers = TimerSet()
        self._processes = _ProcessTable()
        self._finalizer = weakref.finalize(self, _kill_leftovers, self._processes)

    # -- providers ------------------------------------------------------------------------

    def register_provider(self, name: str, command: Sequence[str], *, adapter: AdapterSpec = "claude") -> None:
        """Add (or replace) a provider that runs a custom runner.

        Args:
            name: the provider name to use in :meth:`start_session`
                (letters, digits, ``_.-``; at most 64 characters).
            command: the argv to spawn (a list; never run through a shell). The
                runner must speak the protocol of DESIGN §2 on stdio, or print bare
                provider events.
            adapter: the name of a built-in adapter (``"claude"``, ``"codex"``,
                ``"ollama"``, ``"auto"``) or a callable ``(event: dict) ->
                list[AgentMessage]``.

        Raises:
            InvalidOptionError: a bad name, command or adapter.
        """
        provider = custom_provider(name, command, adapter)
        _stream_adapter(provider.adapter)  # fail now, not at the first session
        with self._lock:
            self._providers[name] = provider

    @property
    def providers(self) -> list[str]:
        """The names of the registered providers."""
        with self._lock:
            return sorted(self._providers)

    # -- sessions -------------------------------------------------------------------------

    def start_session(
        self,
        session_id: str,
        provider: str,
        prompt: str,
        *,
        cwd: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        max_turns: int | None = None,
        permission_mode: str | None = None,
        claude_config_dir: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        additional_directories: Sequence[str] | None = None,
        worktree_name: str | None = None,
        resume_session_id: str | None = None,
        provider_config: Mapping[str, Any] | None = None,
        on_message: MessageCallback | None = None,
        on_status: StatusCallback | None = None,
    ) -> SessionState:
        """Spawn a runner for a new session and send it the first prompt.

        Everything is validated before anything is spawned. The callbacks given here
        are attached before the runner starts, so they see every message.

        Args:
            session_id: a new, unique id.
            provider: a registered provider name (see :attr:`providers`).
            prompt: the first prompt.
            cwd: the runner's working directory (must exist).
            model, system_prompt, max_turns, permission_mode, worktree_name,
                resume_session_id, additional_directories: sent to the runner in the
                first query (``permission_mode`` defaults to ``bypassPermissions``).
            claude_config_dir: an existing directory, exported as ``CLAUDE_CONFIG_DIR``.
            extra_env: extra environment for the runner; validated (DESIGN §5).
            provider_config: provider settings sent as ``providerConfig``.
            on_message: ``on_message(session_id, messages)`` for every batch.
            on_status: ``on_status(session_id, status, error)`` on every status change.

        Returns:
            The new session's state (status ``running``).

        Raises:
            SessionExistsError: ``session_id`` is taken.
            UnknownProviderError: no such provider.
            ProviderUnavailableError: the provider's agent CLI is missing.
            RunnerNotFoundError: the interpreter, runner module or program is missing.
            RunnerStartError: the runner could not be spawned.
            ExtraEnvRejectedError: ``extra_env`` holds refused keys.
            InvalidOptionError: any other bad argument.
            SidecarError: the manager was shut down.
        """
        if not isinstance(session_id, str) or not session_id:
            raise InvalidOptionError(f"session_id must be a non-empty str, got {session_id!r}")
        if not isinstance(prompt, str):
            raise InvalidOptionError(f"prompt must be a str, got {type(prompt).__name__}")
        if not isinstance(provider, str):
            raise InvalidOptionError(f"provider must be a str, got {type(provider).__name__}")
        for name, value in (
            ("model", model),
            ("system_prompt", system_prompt),
            ("permission_mode", permission_mode),
            ("worktree_name", worktree_name),
            ("resume_session_id", resume_session_id),
        ):
            if value is not None and not isinstance(value, str):
                raise InvalidOptionError(f"{name} must be a str or None, got {type(value).__name__}")
        if max_turns is not None and (isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1):
            raise InvalidOptionError(f"max_turns must be a positive int or None, got {max_turns!r}")
        directories = _check_str_list("additional_directories", additional_directories)
        config = _check_provider_config(provider_config)
        for name, callback in (("on_message", on_message), ("on_status", on_status)):
            if callback is not None and not callable(callback):
                raise InvalidOptionError(f"{name} must be callable, got {callback!r}")
        run_cwd = check_directory("cwd", cwd) if cwd is not None else None
        config_dir = check_directory("claude_config_dir", claude_config_dir) if claude_config_dir is not None else None
        clean_env = validate_extra_env(extra_env)

        with self._lock:
            self._check_open()
            entry = self._providers.get(provider)
            if entry is None:
                raise UnknownProviderError(provider, list(self._providers))
            if session_id in self._sessions or session_id in self._starting:
                raise SessionExistsError(session_id)
            self._starting.add(session_id)
        process = None
        try:
            launch = entry.launch(self._settings, config)
            adapter = _stream_adapter(launch.adapter)
            options = {
                "cwd": run_cwd,
                "model": model,
                "system_prompt": system_prompt,
                "max_turns": max_turns,
                "permission_mode": permission_mode,
                "claude_config_dir": config_dir,
                "extra_env": clean_env,
                "additional_directories": directories,
                "worktree_name": worktree_name,
                "resume_session_id": resume_session_id,
                "provider_config": config,
            }
            first_query = protocol.query_command(session_id, prompt, options)
            env = build_runner_env(clean_env, config_dir)
            process = spawn(launch.argv, env, run_cwd)
            self._processes.add(process)
            log.info("session %r: started %s runner, pid %d", session_id, provider, process.pid)
            session = Session(  # on failure it kills and reaps the runner itself
                session_id=session_id,
                provider=provider,
                process=process,
                adapter=adapter,
                timers=self._timers,
                on_final=_weak_method(self, "_session_finished"),
                message_callbacks=(on_message,) if on_message is not None else (),
                status_callbacks=(on_status,) if on_status is not None else (),
                max_line_size=self._max_line_size,
                max_pending=self._max_pending,
                stop_grace=self._stop_grace,
                kill_grace=self._kill_grace,
                backlog=self._backlog,
            )
        except BaseException:
            if process is not None:
                self._processes.discard(process)
            with self._lock:
                self._starting.discard(session_id)
            raise
        with self._lock:
            self._starting.discard(session_id)
            closed = self._closed
            if not closed:
                self._sessions[session_id] = session
                if session.finished:
                    self._arm_cleanup(session)
        if closed:  # shut down while we were spawning
            session.detach()
            session.kill()
            session.join()
            raise SidecarError("the manager was shut down while the session was starting")
        session.send_first_query(first_query, self._write_timeout)
        return session.snapshot()

    def stop_session(self, session_id: str) -> None:
        """Ask a session's runner to stop; escalate if it does not.

        Sends ``stop``; after ``stop_grace`` seconds SIGTERM goes to the runner's
        process group, ``kill_grace`` seconds later SIGKILL. Returns at once; use
        :meth:`wait` to block until the session is done. Stopping a finished or
        stopping session does nothing.

        Raises:
            SessionNotFoundError: no such session.
        """
        self._get(session_id).request_stop()

    def write_prompt(self, session_id: str, prompt: str) -> None:
        """Send a follow-up prompt; the session becomes ``running`` again.

        Raises:
            SessionNotFoundError: no such session.
            SessionNotActiveError: the session is done, failed or being stopped.
            RunnerGoneError: the runner closed its stdin or exited.
            WaitTimeoutError: the runner did not read its stdin within ``write_timeout``.
            InvalidOptionError: ``prompt`` is not a str.
        """
        if not isinstance(prompt, str):
            raise InvalidOptionError(f"prompt must be a str, got {type(prompt).__name__}")
        self._get(session_id).write_prompt(prompt, self._write_timeout)

    def list_sessions(self) -> list[SessionState]:
        """Snapshots of every registered session."""
        with self._lock:
            sessions = list(self._sessions.values())
        return [session.snapshot() for session in sessions]

    def get_session(self, session_id: str) -> SessionState:
        """A snapshot of one session.

        Raises:
            SessionNotFoundError: no such session.
        """
        return self._get(session_id).snapshot()

    def on_message(self, session_id: str, callback: MessageCallback) -> None:
        """Call ``callback(session_id, messages)`` for every later batch of the session's messages.

        Raises:
            SessionNotFoundError: no such session.
            InvalidOptionError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise InvalidOptionError(f"callback must be callable, got {callback!r}")
        self._get(session_id).add_message_callback(callback)

    def on_status(self, session_id: str, callback: StatusCallback) -> None:
        """Call ``callback(session_id, status, error)`` on every later status change.

        Raises:
            SessionNotFoundError: no such session.
            InvalidOptionError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise InvalidOptionError(f"callback must be callable, got {callback!r}")
        self._get(session_id).add_status_callback(callback)

    def remove_session(self, session_id: str) -> None:
        """Forget a session now: cancel its cleanup timer, kill a live runner.

        No callback of the session runs after this returns, and its iterators end.
        Called from outside any session callback, it also waits (bounded) for the
        session's threads; from inside a callback it does not wait, so a callback
        may remove its own session.

        Raises:
            SessionNotFoundError: no such session.
        """
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is None:
                raise SessionNotFoundError(session_id)
            timer, _ = self._cleanup.pop(session_id, (None, None))
            self._retired.append(session)
        self._timers.cancel(timer)
        session.detach()
        if not session.finished:
            log.info("session %r: removed while running; killing its runner", session_id)
            session.kill()
        if _session_thread() is None:
            stuck = session.join()
            if stuck:
                log.warning("session %r: threads still running after removal: %s", session_id, stuck)
        with self._lock:
            self._retired = [s for s in self._retired if any(t.is_alive() for t in s.threads)]

    def wait(self, session_id: str, timeout: float | None = None) -> SessionState:
        """Block until the session's current turn is over.

        Returns as soon as the status is ``idle`` (every prompt sent so far was
        answered), ``done`` or ``error``, with a snapshot taken then. Returns at once
        if it already is.

        Args:
            timeout: seconds to wait at most; ``None`` waits for ever.

        Raises:
            SessionNotFoundError: no such session.
            WaitTimeoutError: (a ``TimeoutError``) the turn was not over in time.
            InvalidOptionError: a negative timeout.
            SidecarError: called from the session's own callback (it would deadlock).
        """
        timeout = validate_timeout(timeout)
        return self._get(session_id).wait_turn(timeout)

    def iter_messages(self, session_id: str, timeout: float | None = None) -> MessageIterator:
        """Iterate over the session's messages until its current turn is over.

        The iterator starts with the session's *backlog* — messages delivered while
        the session had no consumer (no callback, no open iterator), so
        ``start_session(...)`` then ``iter_messages(...)`` misses nothing — and goes
        on with every message delivered from the moment of the call. It ends when
        the turn is over (as :meth:`wait`: idle, done or error), right after the last
        message before that. Called while the turn is already over, it yields the
        backlog and ends.

        Args:
            timeout: the longest wait for each next message (an inactivity timeout,
                not a total); ``None`` waits for ever.

        Returns:
            A :class:`MessageIterator`; close it (or leave the loop) to unsubscribe.
            A slow iterator slows its session down rather than buffering without bound.

        Raises:
            SessionNotFoundError: no such session.
            WaitTimeoutError: (from ``next()``) no message within ``timeout``.
            InvalidOptionError: a negative timeout.
        """
        timeout = validate_timeout(timeout)
        return self._get(session_id).subscribe(timeout)

    # -- teardown -------------------------------------------------------------------------

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop every session and release everything the manager started.

        Every live runner gets ``stop``; the stop ladder (SIGTERM after
        ``stop_grace``, SIGKILL after ``kill_grace`` more) ends the stubborn ones;
        then all timers are cancelled and every session thread and timer thread is
        joined. Idempotent. Sessions stay listed (as done/error) afterwards.
        Called from a session callback, it cannot join the thread it runs on; that
        thread ends by itself once the callback returns.

        Args:
            timeout: the most seconds to wait for runners to stop politely before
                SIGKILL; default ``stop_grace + kill_grace``.
        """
        timeout = validate_timeout(timeout)
        with self._lock:
            first = not self._closed
            self._closed = True
            sessions = list(self._sessions.values()) + self._retired
            cleanup = [timer for timer, _ in self._cleanup.values()]
            self._cleanup.clear()
        for timer in cleanup:
            self._timers.cancel(timer)
        if first:
            log.debug("shutting down %d sessions", len(sessions))
        live = [s for s in sessions if not s.finished]
        for session in live:
            session.request_stop()
        budget = self._stop_grace + self._kill_grace if timeout is None else timeout
        deadline = time.monotonic() + budget
        current = _session_thread()
        for session in live:
            if session is not current:
                session.wait_final(max(0.0, deadline - time.monotonic()))
        for session in live:
            if not session.finished:
                session.kill()
        stuck_timers = self._timers.close()
        stuck = [t for session in sessions for t in session.join(JOIN_TIMEOUT)]
        if stuck or stuck_timers:
            log.warning("shutdown: threads still running after their join timeout: %s", stuck + stuck_timers)
        with self._processes.lock:
            self._processes.processes.clear()
        with self._lock:
            self._retired = []
        self._finalizer.detach()

    def __enter__(self) -> SidecarManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- internals ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SidecarError("the manager is shut down; create a new SidecarManager")

    def _get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(session_id)
        return session

    def _session_finished(self, session: Session) -> None:
        """Called on the session's stdout thread once it is done/error."""
        self._processes.discard(session.process)
        with self._lock:
            if self._sessions.get(session.session_id) is session:
                self._arm_cleanup(session)

    def _arm_cleanup(self, session: Session) -> None:
        """Schedule the session's removal after ``cleanup_grace``. Call with ``_lock`` held."""
        if self._closed:
            return
        old, _ = self._cleanup.pop(session.session_id, (None, None))
        self._timers.cancel(old)
        timer = self._timers.start(
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
                log.debug("session %r: removed after its cleanup grace", session.session_id)


def _weak_method(obj: object, name: str) -> Any:
    """A callable that calls ``obj.name(...)`` if ``obj`` is still alive, without keeping it alive."""
    ref = weakref.ref(obj)

    def call(*args: Any) -> None:
        target = ref()
        if target is not None:
            getattr(target, name)(*args)

    return call


def _stream_adapter(spec: AdapterSpec) -> StreamAdapter:
    """A fresh stream adapter; an unknown adapter name is the caller's mistake."""
    try:
        return new_stream_adapter(spec)
    except UnknownProviderError as exc:
        raise InvalidOptionError(
            f"unknown adapter {spec!r}; registered adapters: {', '.join(adapter_names())}"
        ) from exc


def _check_str_list(name: str, value: Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidOptionError(f"{name} must be a list of str, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, str) or "\0" in item:
            raise InvalidOptionError(f"{name} must hold str without NUL bytes, got {item!r}")
    return list(value)


def _check_provider_config(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise InvalidOptionError(f"provider_config must be a mapping, got {type(config).__name__}")
    try:
        orjson.dumps(config)
    except TypeError as exc:
        raise InvalidOptionError(f"provider_config must be JSON-serialisable with str keys: {exc}") from None
    return dict(config)
