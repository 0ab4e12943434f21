"""Agent sessions on a cluster: one task per session, one manager per worker process.

Driver side, :func:`run_sessions` checks the specs, installs the worker hooks,
submits one task per spec (with the ``sessions`` resource when the workers declare
it) and collects a :class:`SessionResult` per spec, in spec order.

Worker side, every task of every run shares the process's :class:`_Host`: one
:class:`~sidecar_sync.SidecarManager`, created on first use and shut down when the
worker closes, and a semaphore per run that lets ``per_worker`` sessions run at
once. A session waits for the agent, not for a CPU, so a worker runs many of them
(``--nthreads N --resources sessions=N``), not one per core.

Never twice: a task first claims its key on the scheduler (:func:`._engine.claim`).
Dask runs a task again when its worker dies (or when the worker holding its result
dies before the caller fetched it); that second run finds the claim and returns an
error result instead of starting the agent again (its runner died with the first
worker: runners watch their host). Cancelling: when the caller is
interrupted, fails, or times out, it cancels the tasks; dask cannot stop a running
thread, so the worker hooks report each executing task that is let go and the host
stops that task's session (the manager's stop ladder), which ends the task.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidOptionError, SessionNotFoundError, SidecarError, WaitTimeoutError

if TYPE_CHECKING:
    from distributed import Client

    from ..manager import SidecarManager
    from ..messages import AgentMessage
    from ..state import SessionState

__all__ = ["SessionResult", "run_sessions", "KEY_PREFIX"]

log = logging.getLogger(__name__)

#: Keys of session tasks start with this (then the run id and the spec number).
KEY_PREFIX: Final = "sidecar-sync-session-"
#: The worker hooks' name on the workers.
HOOKS_NAME: Final = "sidecar-sync-sessions"
#: The worker resource a session task asks one unit of, when workers declare it.
RESOURCE: Final = "sessions"
#: Spec keys that are not ``start_session`` arguments.
_SPEC_ONLY: Final = frozenset({"follow_ups"})
#: ``start_session`` arguments a spec may not hold: callbacks would run on the worker.
_CALLBACKS: Final = frozenset({"on_message", "on_status", "on_permission"})
#: Seconds between two looks at "was I cancelled?" while waiting for a free slot.
_SLOT_POLL: Final = 0.2


@dataclass(frozen=True)
class SessionResult:
    """How one session of :func:`run_sessions` ended.

    Attributes:
        session_id: the spec's ``session_id``.
        state: the session's final :class:`~sidecar_sync.SessionState` (``done`` or
            ``error``), or None when it never started.
        messages: every message the session delivered, in order (None when
            ``collect_messages`` was False, or it never started).
        error: None when the session started and every turn succeeded; else why
            not: the start failed, a turn failed (the rest of the follow-ups were
            not sent), the runner crashed, the worker died (the session is not run
            again), or it was cancelled.
    """

    session_id: str
    state: SessionState | None
    messages: list[AgentMessage] | None
    error: str | None

    @property
    def ok(self) -> bool:
        """True when the session ran every turn without an error."""
        return self.error is None


# -- worker side ---------------------------------------------------------------------


class _Host:
    """The sessions of one worker process, shared by every task of every run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._manager: SidecarManager | None = None
        self._running: dict[str, str] = {}  # task key -> session id, from start to end
        self._let_go: set[str] = set()  # task keys cancelled while in this process
        self._slots: dict[str, tuple[threading.BoundedSemaphore, list[int]]] = {}  # run -> (slots, [tasks])

    def manager(self) -> SidecarManager:
        """The process's manager, created on first use (again after :meth:`close`)."""
        from ..manager import SidecarManager

        with self._lock:
            if self._manager is None:
                self._manager = SidecarManager()
            return self._manager

    @contextmanager
    def slot(self, run_id: str, per_worker: int, key: str) -> Iterator[bool]:
        """Hold one of the run's ``per_worker`` slots; yields False if cancelled before one was free."""
        with self._lock:
            entry = self._slots.setdefault(run_id, (threading.BoundedSemaphore(per_worker), [0]))
            entry[1][0] += 1
        semaphore = entry[0]
        try:
            while not semaphore.acquire(timeout=_SLOT_POLL):
                if self.let_go(key):
                    yield False
                    return
            try:
                yield not self.let_go(key)
            finally:
                semaphore.release()
        finally:
            with self._lock:
                entry[1][0] -= 1
                if entry[1][0] == 0:
                    self._slots.pop(run_id, None)

    def begin(self, key: str, session_id: str) -> bool:
        """Note that task ``key`` runs ``session_id``; False if it was cancelled already."""
        with self._lock:
            if key in self._let_go:
                return False
            self._running[key] = session_id
            return True

    def end(self, key: str) -> None:
        with self._lock:
            self._running.pop(key, None)
            self._let_go.discard(key)

    def let_go(self, key: str) -> bool:
        """True once task ``key`` was cancelled."""
        with self._lock:
            return key in self._let_go

    def cancel(self, key: str) -> None:
        """Task ``key`` was let go: stop its session (returns at once; the task sees the stop)."""
        with self._lock:
            self._let_go.add(key)
            session_id = self._running.get(key)
            manager = self._manager
        if session_id is not None and manager is not None:
            log.info("session %r: its task was cancelled; stopping it", session_id)
            with suppress(SessionNotFoundError):  # not registered yet: the task checks after starting it
                manager.stop_session(session_id)

    def close(self) -> None:
        """Shut the manager down: every runner is stopped (bounded; never raises)."""
        with self._lock:
            manager, self._manager = self._manager, None
        if manager is not None:
            manager.shutdown()


_HOST = _Host()


def _hooks_setup() -> None:
    """Worker hooks installed: nothing to do until the first session (the manager is lazy)."""


def _hooks_let_go(key: str) -> None:
    _HOST.cancel(key)


def _hooks_close() -> None:
    _HOST.close()


def session_task(run_id: str, key: str, spec: dict[str, Any], per_worker: int, collect: bool) -> SessionResult:
    """The task: run one session to its end on this worker; never twice."""
    from ._engine import claim, finish

    session_id = spec["session_id"]
    previous = claim(run_id, key)
    if previous is not None:
        what = "ran to its end on" if previous.done else "was started by"
        return SessionResult(
            session_id, None, None, f"not run again: it {what} worker {previous.worker}, which died or was lost"
        )
    with _HOST.slot(run_id, per_worker, key) as admitted:
        if not admitted:
            return SessionResult(session_id, None, None, "cancelled before it started")
        result = _run(key, spec, collect)
    finish(run_id, key)
    return result


def _run(key: str, spec: dict[str, Any], collect: bool) -> SessionResult:
    manager = _HOST.manager()
    session_id = spec["session_id"]
    messages: list[AgentMessage] | None = [] if collect else None

    def on_message(_: str, batch: list[AgentMessage]) -> None:
        if messages is not None:
            messages.extend(batch)

    options = {k: v for k, v in spec.items() if k not in _SPEC_ONLY and k not in ("session_id", "provider", "prompt")}
    if not _HOST.begin(key, session_id):
        return SessionResult(session_id, None, None, "cancelled before it started")
    try:
        try:
            manager.start_session(session_id, spec["provider"], spec["prompt"], **options, on_message=on_message)
        except (SidecarError, OSError, TypeError, ValueError) as exc:
            return SessionResult(session_id, None, None, f"cannot start: {type(exc).__name__}: {exc}")
        if _HOST.let_go(key):
            manager.stop_session(session_id)  # cancelled while it was starting
        state = manager.wait(session_id)
        error = None
        for prompt in spec.get("follow_ups") or ():
            if state.stopping or state.finished or state.status == "error":
                break
            try:
                manager.write_prompt(session_id, prompt)
            except SidecarError as exc:
                error = f"follow-up not sent: {exc}"
                break
            state = manager.wait(session_id)
        if error is None and state.status == "error":
            error = state.error or "the turn failed"
        manager.stop_session(session_id)
        state = manager.wait(session_id, until="final")
        if _HOST.let_go(key):
            error = "cancelled"
        elif error is None and state.status == "error":
            error = state.error or "the runner failed"
        return SessionResult(session_id, state, messages, error)
    finally:
        _HOST.end(key)
        with suppress(SessionNotFoundError):
            manager.remove_session(session_id)


# -- driver side ---------------------------------------------------------------------


def _start_parameters() -> frozenset[str]:
    from ..manager import SidecarManager

    return frozenset(inspect.signature(SidecarManager.start_session).parameters) - {"self"}


def _check_specs(specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    allowed = (_start_parameters() - _CALLBACKS) | _SPEC_ONLY
    seen: set[str] = set()
    out = []
    for n, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            raise InvalidOptionError(f"spec {n} must be a mapping of start_session arguments, got {spec!r}")
        spec = dict(spec)
        for name in ("session_id", "provider", "prompt"):
            if not isinstance(spec.get(name), str):
                raise InvalidOptionError(f"spec {n}: {name!r} must be a str, got {spec.get(name)!r}")
        callbacks = sorted(set(spec) & _CALLBACKS)
        if callbacks:
            raise InvalidOptionError(
                f"spec {n}: {', '.join(callbacks)} would run on a worker; "
                "use collect_messages and the results (or progress) instead"
            )
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise InvalidOptionError(f"spec {n}: unknown keys {unknown}; start_session takes {sorted(allowed)}")
        follow_ups = spec.get("follow_ups")
        if follow_ups is not None:
            if isinstance(follow_ups, str) or not all(isinstance(p, str) for p in follow_ups):
                raise InvalidOptionError(f"spec {n}: follow_ups must be a list of str, got {follow_ups!r}")
            spec["follow_ups"] = list(follow_ups)
        if spec["session_id"] in seen:
            raise InvalidOptionError(f"spec {n}: session_id {spec['session_id']!r} is used twice")
        seen.add(spec["session_id"])
        out.append(spec)
    return out


def _failed(spec: Mapping[str, Any], exc: BaseException) -> SessionResult:
    if type(exc).__name__ == "KilledWorker":
        why = "the worker running it died; not run again"
    else:
        why = f"{type(exc).__name__}: {exc}"
    return SessionResult(spec["session_id"], None, None, why)


def run_sessions(
    specs: Sequence[Mapping[str, Any]],
    *,
    client: Client | str | None = None,
    per_worker: int = 32,
    collect_messages: bool = True,
    progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
) -> list[SessionResult]:
    """Run agent sessions on a dask cluster, each once; return their results in spec order.

    Each session starts with its spec's prompt, is sent each follow-up after the
    previous turn succeeded, then is stopped; its result holds the final state and
    (by default) its messages.

    Args:
        specs: mappings of :meth:`~sidecar_sync.SidecarManager.start_session`
            arguments (``session_id``, ``provider``, ``prompt``, and any option but
            the callbacks), plus ``follow_ups``: a list of prompts. Session ids must
            differ.
        client: a ``distributed.Client``, a scheduler address, or ``None``:
            ``DASK_SCHEDULER_ADDRESS`` if set, else a ``LocalCluster`` (one worker
            process per ``per_worker`` sessions, at most one per CPU), closed
            afterwards with everything it started.
        per_worker: sessions one worker runs at once. Workers that declare a
            ``sessions`` resource get at most that many session tasks, each of
            which holds one of the run's ``per_worker`` slots; without it a worker
            runs at most as many as it has threads.
        collect_messages: keep each session's messages in its result.
        progress: ``progress(done, total)`` after each session ends.
        timeout: seconds for the whole run; ``None`` waits for ever.

    Returns:
        One :class:`SessionResult` per spec, in spec order.

    Raises:
        InvalidOptionError: a bad spec or argument (nothing was started).
        WaitTimeoutError: ``timeout`` passed (the sessions were stopped).
        PreflightError: a worker cannot run sidecar_sync.
        KeyboardInterrupt: the caller was interrupted (the sessions were stopped).
    """
    from . import _engine, _preflight

    checked = _check_specs(specs)
    if not isinstance(per_worker, int) or isinstance(per_worker, bool) or per_worker < 1:
        raise InvalidOptionError(f"per_worker must be a positive int, got {per_worker!r}")
    if not checked:
        return []
    run_id = uuid.uuid4().hex
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = max(1, min(cpus, -(-len(checked) // per_worker)))
    local = _engine.LocalSpec(workers, per_worker, {RESOURCE: per_worker})
    with _engine.connect(client, local) as engine:
        _preflight.ensure(engine)
        engine.install_hooks(_engine.WorkerHooks(HOOKS_NAME, KEY_PREFIX, _hooks_setup, _hooks_let_go, _hooks_close))
        resources = _resources(engine, per_worker)
        tasks = []
        for n, spec in enumerate(checked):
            key = f"{KEY_PREFIX}{run_id}-{n}"
            args = (run_id, key, spec, per_worker, collect_messages)
            tasks.append(engine.submit(session_task, *args, key=key, resources=resources))
        results: list[SessionResult | None] = [None] * len(checked)
        done = 0
        try:
            for outcome in engine.completed(tasks, timeout):
                value = outcome.value
                results[outcome.index] = value if outcome.ok else _failed(checked[outcome.index], value)
                done += 1
                if progress is not None:
                    progress(done, len(checked))
        except TimeoutError:
            engine.cancel(tasks)
            left = sum(r is None for r in results)
            raise WaitTimeoutError(
                f"run_sessions: {left} of {len(tasks)} sessions not done after {timeout} s; they were stopped"
            ) from None
        except BaseException:
            engine.cancel(tasks)
            raise
        finally:
            engine.forget_claims(run_id)
    return [r for r in results if r is not None]


def _resources(engine: Any, per_worker: int) -> dict[str, float] | None:
    """``{"sessions": 1}`` when some worker declares that resource, else None (threads bound it)."""
    declared = engine.workers()
    if any(RESOURCE in r for r in declared.values()):
        return {RESOURCE: 1}
    threads = engine.threads()
    if threads and min(threads.values()) < per_worker:
        log.warning(
            "the workers declare no %r resource and some have fewer than per_worker=%d threads: "
            "they run that many sessions at once (start them with --nthreads N --resources %s=N)",
            RESOURCE,
            per_worker,
            RESOURCE,
        )
    return None
