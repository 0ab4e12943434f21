"""``SidecarManager``: the public API over the session registry.

The manager checks everything a caller hands it before anything is spawned, starts
runners through the provider registry, and keeps its sessions in a
:class:`~sidecar_sync.registry.SessionRegistry`. It never holds a lock while calling
user code or blocking on a process, so callbacks may call any manager method,
including stopping or removing their own session.

Teardown is layered: ``remove_session`` kills one runner; ``shutdown`` (and leaving a
``with`` block) stops every runner along the stop ladder within one deadline, closes
iterators, cancels the timers and joins every thread the manager started; a
``weakref.finalize`` kills whatever runner groups are still alive if a manager is
dropped or the interpreter exits without a shutdown. A manager belongs to the
process that created it: in a forked child it refuses to act on the parent's runners.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from . import protocol
from ._interrupts import deferred_interrupts
from .consumers import Consumers, MessageCallback, MessageIterator, StatusCallback
from .errors import InvalidOptionError, SidecarError
from .framer import MAX_LINE_SIZE, MAX_PENDING
from .launcher import launch_session, open_recorder, weak_method
from .permissions import PermissionCallback
from .providers import BUILTIN_PROVIDERS, AdapterSpec, Provider, custom_provider
from .registry import SessionRegistry, kill_leftovers
from .session import Session
from .session_threads import current_session
from .settings import check_settings
from .start_request import check_prompt, prepare_start, stream_adapter
from .state import SessionState
from .teardown import begin_shutdown, finish_shutdown, remove_session, shutdown_deadline
from .validation import check_callable, check_text, check_timeout

__all__ = ["SidecarManager"]

log = logging.getLogger(__name__)


class SidecarManager:
    """Starts, feeds, watches and stops agent sidecar sessions, one runner process each.

    Args:
        python: the interpreter built-in runners are started with.
        stop_grace: seconds between the ``stop`` command and SIGTERM to the runner's
            process group; also how long a runner's output may stay open after it
            exited (a child holding it) before the rest of the group is killed.
        cleanup_grace: seconds a finished session stays listed before it is removed.
        max_line_size: longest stdout line accepted (longer ones are dropped whole, counted).
        max_pending: most bytes buffered per session between reads.
        claude_path: the Claude Code CLI to use (default: discovered).
        codex_path: the Codex CLI to use (default: discovered).
        kill_grace: seconds between SIGTERM and SIGKILL. The whole ladder of
            ``stop_session``: ``stop`` at 0, SIGTERM at ``stop_grace``, SIGKILL at
            ``stop_grace + kill_grace``, all to the runner's whole process group.
        message_backlog: most messages kept for the next iterator while a session has no
            consumer (callback or open iterator); the oldest are dropped beyond it.
        write_timeout: seconds a prompt write may wait for the runner to read its stdin.
        start_timeout: seconds a runner has to say something the session understands
            (a protocol line, or a provider event its adapter maps); a runner that does
            not is stopped and the session ends ``error`` naming the command and its
            stderr. ``None``: wait for ever.
        max_buffered_bytes: most bytes of messages a session holds for a consumer: its
            backlog, and each open iterator (which then pushes back on the runner).
        max_prompt_size: longest prompt accepted, in UTF-8 bytes.

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
        write_timeout: float = 10.0,
        start_timeout: float | None = 30.0,
        max_buffered_bytes: int = 64 * 2**20,
        max_prompt_size: int = 16 * 2**20,
    ) -> None:
        self._config = check_settings(
            python=python,
            stop_grace=stop_grace,
            cleanup_grace=cleanup_grace,
            max_line_size=max_line_size,
            max_pending=max_pending,
            claude_path=claude_path,
            codex_path=codex_path,
            kill_grace=kill_grace,
            message_backlog=message_backlog,
            write_timeout=write_timeout,
            start_timeout=start_timeout,
            max_buffered_bytes=max_buffered_bytes,
            max_prompt_size=max_prompt_size,
        )
        self._owner_pid = os.getpid()
        self._providers_lock = threading.Lock()
        self._providers: dict[str, Provider] = dict(BUILTIN_PROVIDERS)
        self._registry = SessionRegistry(self._config.cleanup_grace)
        self._shutdown_lock = threading.Lock()
        self._shutdown_done = threading.Event()
        self._finalizer = weakref.finalize(self, kill_leftovers, self._registry.processes)

    # -- providers ------------------------------------------------------------------------

    def register_provider(self, name: str, command: Sequence[str], *, adapter: AdapterSpec = "claude") -> None:
        """Add (or replace) a provider that runs a custom runner.

        Args:
            name: the provider name to use in :meth:`start_session`
                (letters, digits, ``_.-``; at most 64 characters).
            command: the argv to spawn (a list; never run through a shell). The
                runner speaks the runner protocol on stdio, or prints bare provider
                events (see ``runners/README.md``).
            adapter: the name of a built-in adapter (``"claude"``, ``"codex"``,
                ``"ollama"``, ``"auto"``) or a callable ``(event: dict) ->
                list[AgentMessage]``.

        Raises:
            InvalidOptionError: a bad name, command or adapter.
        """
        provider = custom_provider(name, command, adapter)
        for arg in provider.command or ():
            check_text("command argument", arg)
        stream_adapter(provider.adapter)  # fail now, not at the first session
        with self._providers_lock:
            self._providers[name] = provider

    @property
    def providers(self) -> list[str]:
        """The names of the registered providers."""
        with self._providers_lock:
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
        turn_timeout: float | None = None,
        idle_timeout: float | None = None,
        max_cost_usd: float | None = None,
        max_tokens: int | None = None,
        record: str | os.PathLike[str] | None = None,
        on_permission: PermissionCallback | None = None,
        permission_timeout: float | None = None,
    ) -> SessionState:
        """Spawn a runner for a new session and send it the first prompt.

        Everything is checked before anything is spawned, and a failure leaves nothing
        registered and nothing running. The callbacks given here are attached before
        the runner starts, so they see every message.

        Args:
            session_id: a new, unique id.
            provider: a registered provider name (see :attr:`providers`).
            prompt: the first prompt (at most ``max_prompt_size`` UTF-8 bytes).
            cwd: the runner's working directory (must exist).
            model, system_prompt, max_turns, permission_mode, worktree_name,
                resume_session_id, additional_directories: sent to the runner in the
                first query (``permission_mode`` defaults to ``bypassPermissions``).
            claude_config_dir: an existing directory, exported as ``CLAUDE_CONFIG_DIR``.
            extra_env: extra environment for the runner; checked, never trusted (see
                :mod:`sidecar_sync.env`).
            provider_config: provider settings sent as ``providerConfig``. It is trusted
                configuration (it can name programs the agent runs): never fill it
                from untrusted input. A built-in provider refuses keys it does not know.
            on_message: ``on_message(session_id, messages)`` for every batch.
            on_status: ``on_status(session_id, status, error)`` on every status change.
            turn_timeout: seconds of wall clock per turn (from its prompt to its end).
            idle_timeout: seconds without any runner output while a turn is in flight.
            max_cost_usd: the most the session may cost, as the provider reports it.
            max_tokens: the most input plus output tokens the session may use.
                A limit that is hit stops the runner through the stop ladder; the turn
                ends with that outcome (``timeout``, ``idle_timeout``, ``budget``) and the
                session ends ``error`` naming the limit and its value. They hold for
                every provider, built-in or custom.
            record: a file to record the session in (``.gz``: compressed): the runner's
                output as received, the prompts, the timing, a header and how it ended
                (see :mod:`sidecar_sync.recording`). ``Replay`` and the ``replay``
                provider reproduce its messages.
            on_permission: ``on_permission(session_id, request) -> bool | Allow | Deny``,
                asked before the agent runs a tool its permission mode does not already
                allow (``request`` is a :class:`~sidecar_sync.PermissionRequest`).
                ``True``/``Allow(updated_input=None)`` lets it run (with the input
                replaced when given); ``False``/``Deny(message=...)`` refuses it, with
                that message for the model. It runs on the session's own permission
                thread (never the one delivering messages: a person may take minutes),
                one request at a time, in order; a raise (anything) denies and is
                logged; once the session is stopping, what is pending is denied and a
                late answer discarded. With it, ``permission_mode`` defaults to
                ``default``. Providers whose runner cannot ask (codex, ollama, echo,
                replay) refuse it.
            permission_timeout: seconds from a request's arrival after which it is
                denied unanswered (``None``: wait for ever). Needs ``on_permission``.
                While a request waits, ``idle_timeout`` does not run.

        Returns:
            The new session's state (status ``running``).

        Raises:
            SessionExistsError: ``session_id`` is taken.
            UnknownProviderError: no such provider.
            ProviderUnavailableError: the provider's agent CLI is missing.
            RunnerNotFoundError: the interpreter, runner module or program is missing.
            RunnerStartError: the runner could not be spawned.
            ExtraEnvRejectedError: ``extra_env`` holds refused keys.
            PromptTooLargeError: the prompt is over ``max_prompt_size``.
            InvalidOptionError: any other bad argument.
            SidecarError: the manager was shut down, or belongs to another process.
        """
        self._check_owner()
        check_callable("on_message", on_message)
        check_callable("on_status", on_status)
        with self._providers_lock:
            providers = dict(self._providers)
        request = prepare_start(
            session_id,
            provider,
            prompt,
            providers=providers,
            settings=self._config.launch,
            max_prompt=self._config.max_prompt_size,
            limits=(turn_timeout, idle_timeout, max_cost_usd, max_tokens),
            on_permission=on_permission,
            permission_timeout=permission_timeout,
            options={
                "cwd": cwd,
                "model": model,
                "system_prompt": system_prompt,
                "max_turns": max_turns,
                "permission_mode": permission_mode,
                "claude_config_dir": claude_config_dir,
                "extra_env": extra_env,
                "additional_directories": additional_directories,
                "worktree_name": worktree_name,
                "resume_session_id": resume_session_id,
                "provider_config": provider_config,
            },
        )
        consumers = Consumers(
            session_id,
            message_callbacks=(on_message,) if on_message is not None else (),
            status_callbacks=(on_status,) if on_status is not None else (),
            backlog_messages=self._config.message_backlog,
            max_buffered_bytes=self._config.max_buffered_bytes,
        )
        recorder = open_recorder(record, session_id, provider, request.options) if record is not None else None
        try:
            session = launch_session(
                self._registry,
                self._config.session,
                session_id=session_id,
                provider=provider,
                argv=request.argv,
                env=request.env,
                cwd=request.options.cwd,
                adapter=request.adapter,
                consumers=consumers,
                limits=request.limits,
                recorder=recorder,
                on_permission=on_permission,
                permission_timeout=request.permission_timeout,
                on_final=weak_method(self, "_session_finished"),
            )
        except BaseException:
            if recorder is not None:
                recorder.close({"status": None, "error": "the session did not start"})
            raise
        session.send_first_query(request.first_line, self._config.write_timeout, prompt)
        return session.snapshot()

    def stop_session(self, session_id: str) -> None:
        """Ask a session's runner to stop; escalate if it does not.

        Sends ``stop``; after ``stop_grace`` seconds SIGTERM goes to the runner's
        process group, ``kill_grace`` seconds later SIGKILL. Returns at once; use
        :meth:`wait` to block until the session is final (once a stop was requested,
        ``wait`` returns only then). Stopping a final or stopping session does nothing.

        Raises:
            SessionNotFoundError: no such session.
        """
        self._check_owner()
        with deferred_interrupts():
            self._registry.get(session_id).request_stop()

    def write_prompt(self, session_id: str, prompt: str) -> None:
        """Send a follow-up prompt; the session becomes ``running`` again.

        Allowed while the session is ``idle`` or in ``error`` after a failed turn (its
        runner still lives).

        Raises:
            SessionNotFoundError: no such session.
            SessionNotActiveError: the session is final or being stopped.
            RunnerGoneError: the runner closed its stdin or exited.
            WaitTimeoutError: the runner did not read its stdin within ``write_timeout``.
            PromptTooLargeError: the prompt is over ``max_prompt_size``.
            InvalidOptionError: ``prompt`` is not valid text.
        """
        self._check_owner()
        check_prompt(prompt, self._config.max_prompt_size)
        session = self._registry.get(session_id)
        line = protocol.encode(protocol.query_command(session_id, prompt))
        session.write_prompt(line, self._config.write_timeout, prompt)

    def list_sessions(self) -> list[SessionState]:
        """Snapshots of every registered session."""
        return [session.snapshot() for session in self._registry.sessions()]

    def get_session(self, session_id: str) -> SessionState:
        """A snapshot of one session.

        Raises:
            SessionNotFoundError: no such session.
        """
        return self._registry.get(session_id).snapshot()

    def on_message(self, session_id: str, callback: MessageCallback) -> None:
        """Call ``callback(session_id, messages)`` for every later batch of the session's messages.

        Raises:
            SessionNotFoundError: no such session.
            InvalidOptionError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise InvalidOptionError(f"callback must be callable, got {callback!r}")
        self._registry.get(session_id).consumers.add_message_callback(callback)

    def on_status(self, session_id: str, callback: StatusCallback) -> None:
        """Call ``callback(session_id, status, error)`` on every later status change.

        Raises:
            SessionNotFoundError: no such session.
            InvalidOptionError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise InvalidOptionError(f"callback must be callable, got {callback!r}")
        self._registry.get(session_id).consumers.add_status_callback(callback)

    def remove_session(self, session_id: str) -> None:
        """Forget a session now: cancel its cleanup timer, kill a live runner.

        Its iterators end, and no callback of the session starts after this returns;
        one that is running right now is waited for (at most ``kill_grace + 1``
        seconds, then a warning is logged). Called from one of the session's own
        callbacks it does not wait, so a callback may remove its own session.

        Raises:
            SessionNotFoundError: no such session.
        """
        self._check_owner()
        remove_session(self._registry, session_id, self._config.session.kill_grace + 1.0)

    def wait(
        self, session_id: str, timeout: float | None = None, *, until: Literal["turn", "final"] = "turn"
    ) -> SessionState:
        """Block until the session's current turn is over, or until it is final.

        With ``until="turn"`` (the default) it returns as soon as the status is
        ``idle`` (every prompt sent so far was answered), ``error`` (the last turn
        failed) or final — except that once a stop was requested it returns only at
        the final status. With ``until="final"`` it always waits for ``done``/``error``
        as a final status. Returns at once if already there, with a snapshot.

        Args:
            timeout: seconds to wait at most; ``None`` waits for ever.
            until: ``"turn"`` or ``"final"``.

        Raises:
            SessionNotFoundError: no such session.
            WaitTimeoutError: (a ``TimeoutError``) not there in time.
            InvalidOptionError: a negative timeout or an unknown ``until``.
            SidecarError: called from the session's own callback (it would deadlock).
        """
        timeout = check_timeout(timeout)
        if until not in ("turn", "final"):
            raise InvalidOptionError(f"until must be 'turn' or 'final', got {until!r}")
        return self._registry.get(session_id).wait(timeout, until)

    def iter_messages(self, session_id: str, timeout: float | None = None) -> MessageIterator:
        """Iterate over the session's messages until its current turn is over.

        The iterator starts with the session's *backlog* — messages delivered while
        the session had no consumer (no callback, no open iterator), so
        ``start_session(...)`` then ``iter_messages(...)`` misses nothing — and goes
        on with every message delivered from the moment of the call. It ends when the
        turn is over (as :meth:`wait`: idle, error or final; once a stop was requested,
        at the final status), right after the last message before that. Called while
        the turn is already over, it yields the backlog and ends.

        Args:
            timeout: the longest wait for each next message (an inactivity timeout,
                not a total); ``None`` waits for ever.

        Returns:
            A :class:`MessageIterator`; close it (or leave the loop) to unsubscribe.
            An iterator that is not read pushes back: once it holds
            ``max_buffered_bytes`` the session stops reading its runner until it is
            read (nothing is lost).

        Raises:
            SessionNotFoundError: no such session.
            WaitTimeoutError: (from ``next()``) no message within ``timeout``.
            InvalidOptionError: a negative timeout.
        """
        timeout = check_timeout(timeout)
        return self._registry.get(session_id).subscribe(timeout)

    # -- teardown -------------------------------------------------------------------------

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop every session and release everything the manager started. Never raises.

        Every live runner gets ``stop`` and its stop ladder (SIGTERM after
        ``stop_grace``, SIGKILL ``kill_grace`` later); open iterators end at once.
        One deadline bounds the whole call, however many sessions there are and
        however stuck their callbacks: by default ``stop_grace + kill_grace + 1``
        seconds. A session whose stdout thread is still inside a callback by then is
        given its final status without it (and delivers nothing more). Then the
        timers are cancelled and every thread is joined within what is left.
        Idempotent and safe from several threads at once (later calls wait for the
        first). Called from a session callback it only starts the stops and returns:
        it cannot wait for threads that may be waiting for it.

        Args:
            timeout: the whole call's deadline in seconds (default above).
        """
        try:
            self._shutdown(timeout)
        except Exception:  # pragma: no cover - shutdown must never raise
            log.exception("shutdown failed")

    def _shutdown(self, timeout: float | None) -> None:
        deadline = shutdown_deadline(timeout, self._config.session.stop_grace + self._config.session.kill_grace + 1.0)
        if os.getpid() != self._owner_pid:  # a forked child: the runners and the locks are the parent's
            self._finalizer.detach()  # take no lock: one held at the fork is never released here
            return
        sessions, live = begin_shutdown(self._registry)
        if current_session() is not None:
            log.debug("shutdown from a session callback: %d sessions are stopping", len(live))
            return
        if not self._shutdown_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return  # another thread is shutting down and took the whole budget
        try:
            if not self._shutdown_done.is_set():
                if finish_shutdown(self._registry, sessions, live, deadline):
                    self._finalizer.detach()  # nothing is left for it to kill
                self._shutdown_done.set()
        finally:
            self._shutdown_lock.release()

    def __enter__(self) -> SidecarManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- internals ------------------------------------------------------------------------

    def _check_owner(self) -> None:
        if os.getpid() != self._owner_pid:
            raise SidecarError(
                f"this SidecarManager belongs to process {self._owner_pid}; a forked child cannot use it "
                "(create a new manager in the child)"
            )

    def _session_finished(self, session: Session) -> None:
        """Called on the session's stdout thread once it is final."""
        self._registry.finished(session)

