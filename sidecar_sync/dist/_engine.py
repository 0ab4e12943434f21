"""The seam to the engine: every call into dask.distributed lives in this module.

The rest of :mod:`sidecar_sync.dist` sees an :class:`Engine` — submit a function
under a key, take results in completion order, cancel, run a probe on every worker,
install worker hooks — and, on the worker side, :func:`claim` (the never-run-twice
guard). Another engine would be a second module with the same few names.

Driver side: :func:`connect` wraps a ``distributed.Client`` given by the caller, or
connects to ``DASK_SCHEDULER_ADDRESS`` (or dask's ``scheduler-address`` setting), or
starts a ``LocalCluster`` of worker processes sized by the caller, which it closes
on the way out whatever happened.

Worker side: :class:`WorkerHooks` is a ``WorkerPlugin`` that reports the
cancellation of a task that is executing (dask cannot stop a running thread: the
task's code must stop what it started) and the worker's close. :func:`claim`
records, on the scheduler, which worker started a task, and :func:`finish` that it
got to its end: dask runs a task again when the worker running it dies (up to
``distributed.scheduler.allowed-failures`` times), and also when the worker that
held its result dies before the caller fetched it; the second run finds the first
one's record there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

try:
    import cloudpickle  # type: ignore[import-untyped]
    import dask
    import distributed as _distributed
except ImportError as exc:  # pragma: no cover - the extra is part of the test install
    raise ImportError(f"sidecar_sync.dist needs dask.distributed ({exc}): pip install 'sidecar-sync[dask]'") from exc

if TYPE_CHECKING:
    from distributed import Client

#: dask.distributed, used through one untyped name: it is only partly annotated,
#: and strict checking of this module should not depend on how far that goes.
dd: Any = _distributed

__all__ = ["Engine", "LocalSpec", "Outcome", "Claim", "WorkerHooks", "connect", "claim", "finish", "ENGINE_VERSION"]

log = logging.getLogger(__name__)

#: What :func:`sidecar_sync.dist.preflight` reports as the engine.
ENGINE_VERSION: Final = f"distributed {dd.__version__}"

#: The scheduler metadata key under which task claims are kept, one dict per run.
CLAIMS: Final = "sidecar-sync-claims"

#: Environment dask sets before it spawns a worker process (also in the spawning process).
PRE_SPAWN: Final = "distributed.nanny.pre-spawn-environ"
#: Added to it for local clusters started here. Dask gives workers
#: ``MALLOC_TRIM_THRESHOLD_``, and setting that freezes glibc's mmap threshold at
#: 128 KiB: every 1 MiB read buffer of a replay is then mapped and unmapped, which
#: costs replay much more CPU (bench/README.md, "Distributed replay and sessions").
SPAWN_ENV: Final = {"MALLOC_MMAP_THRESHOLD_": 8 * 2**20}

#: Worker-side task states that mean "no longer wanted" when they follow ``executing``.
_LET_GO: Final = frozenset({"released", "cancelled", "forgotten"})

#: Seconds to wait for a worker hook's close work before letting the worker go on closing.
_CLOSE_BUDGET: Final = 15.0


@dataclass(frozen=True)
class LocalSpec:
    """How to size the ``LocalCluster`` started when the caller gives no cluster.

    Attributes:
        n_workers: worker processes.
        threads_per_worker: task threads in each.
        resources: abstract resources each worker declares (``{"sessions": 32}``).
    """

    n_workers: int
    threads_per_worker: int
    resources: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """How one submitted task ended: ``value`` is its result, or the exception when not ``ok``."""

    index: int
    ok: bool
    value: Any


class Engine:
    """One caller's use of a dask cluster: submit, collect in completion order, cancel.

    Args:
        client: a connected ``distributed.Client``.
    """

    def __init__(self, client: Client) -> None:
        self.client: Any = client

    @property
    def address(self) -> str:
        """The scheduler's address."""
        return str(self.client.scheduler.address)

    def workers(self) -> dict[str, dict[str, float]]:
        """Each worker's declared resources, by worker address (``{}`` for none)."""
        info = self.client.scheduler_info()
        return {addr: dict(w.get("resources") or {}) for addr, w in info.get("workers", {}).items()}

    def threads(self) -> dict[str, int]:
        """Each worker's task threads, by worker address."""
        return {str(addr): int(n) for addr, n in self.client.nthreads().items()}

    def submit(self, fn: Callable[..., Any], *args: Any, key: str, resources: dict[str, float] | None = None) -> Any:
        """Submit ``fn(*args)`` as one task named ``key``; never retried on an exception."""
        return self.client.submit(fn, *args, key=key, pure=False, retries=0, resources=resources)

    def completed(self, tasks: Sequence[Any], timeout: float | None = None) -> Iterator[Outcome]:
        """Yield each task's :class:`Outcome` as it ends, in completion order.

        Args:
            tasks: what :meth:`submit` returned.
            timeout: seconds for all of them; ``None`` waits for ever.

        Raises:
            TimeoutError: some task had not ended within ``timeout``.
        """
        index = {task.key: i for i, task in enumerate(tasks)}
        # The as_completed iterator wakes every 0.1 s, so Ctrl-C reaches the caller promptly.
        pending = dd.as_completed(tasks, loop=self.client.loop, raise_errors=False, timeout=timeout)
        for task in pending:
            status = task.status
            if status == "finished":
                # result() waits for a recomputation if the worker holding it dies meanwhile.
                yield Outcome(index[task.key], True, task.result())
            elif status == "error":
                yield Outcome(index[task.key], False, task.exception())
            elif status in ("lost", "pending"):
                # It had finished, and the worker holding its result died before it was
                # fetched: dask computes it again; wait for that.
                pending.add(task)
            else:
                yield Outcome(index[task.key], False, dd.CancelledError(f"{task.key}: {status}"))

    def cancel(self, tasks: Sequence[Any]) -> None:
        """Cancel the tasks; the workers' :class:`WorkerHooks` see the running ones let go. Never raises."""
        try:
            self.client.cancel(list(tasks), force=True)
        except Exception:  # the connection may be the reason we are cancelling
            log.warning("could not cancel %d tasks", len(tasks), exc_info=True)

    def run_on_workers(self, fn: Callable[[], Any], *, by_value: ModuleType | None = None) -> dict[str, Any]:
        """Run ``fn()`` on every worker; return its result, or the exception it raised, by worker.

        Args:
            fn: a function taking no argument.
            by_value: the module of ``fn`` when it must travel as code, not as a
                reference (so that workers without this package can run it). It must
                import nothing but the standard library.
        """
        if by_value is not None:
            cloudpickle.register_pickle_by_value(by_value)
        return dict(self.client.run(fn, on_error="return"))

    def install_hooks(self, hooks: WorkerHooks) -> None:
        """Install ``hooks`` on every worker, present and future (again under its name: a no-op)."""
        self.client.register_plugin(hooks, name=hooks.name)

    def forget_claims(self, run_id: str) -> None:
        """Drop the claims of one run from the scheduler. Never raises."""
        try:
            self.client.set_metadata([CLAIMS, run_id], None)
        except Exception:
            log.debug("could not drop the claims of run %s", run_id, exc_info=True)


@contextmanager
def connect(client: Client | str | None, local: LocalSpec) -> Iterator[Engine]:
    """An :class:`Engine` on the caller's cluster, or on one started (and closed) here.

    Args:
        client: a ``distributed.Client`` (used as is, left open); a scheduler address;
            or ``None``: ``DASK_SCHEDULER_ADDRESS`` (or dask's ``scheduler-address``
            setting) if set, else a ``LocalCluster`` of worker processes sized by ``local``.
        local: the size of that local cluster.
    """
    if isinstance(client, dd.Client):
        yield Engine(client)
        return
    address = client or os.environ.get("DASK_SCHEDULER_ADDRESS") or dask.config.get("scheduler-address", None)
    if address:
        own = dd.Client(address, set_as_default=False)
        try:
            yield Engine(own)
        finally:
            own.close()
        return
    started = time.perf_counter()
    # The nanny writes its pre-spawn environment into this process's os.environ too:
    # put back what it changes once the cluster is closed.
    touched = {*dask.config.get(PRE_SPAWN, {}), *SPAWN_ENV, "PYTHONHASHSEED"}
    saved = {key: os.environ.get(key) for key in touched}
    with dask.config.set({f"{PRE_SPAWN}.{key}": value for key, value in SPAWN_ENV.items()}):
        cluster = dd.LocalCluster(
            n_workers=local.n_workers,
            threads_per_worker=local.threads_per_worker,
            resources=local.resources or None,
            processes=True,
            # No dashboard; the scheduler's HTTP endpoints (health, metrics) on a free
            # loopback port rather than 8787, which another cluster may hold.
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    try:
        own = dd.Client(cluster, set_as_default=False)
        log.info(
            "started a local cluster of %d x %d threads in %.2f s",
            local.n_workers,
            local.threads_per_worker,
            time.perf_counter() - started,
        )
        try:
            yield Engine(own)
        finally:
            own.close()
    finally:
        # Closing the workers runs their hooks' close (the runners are stopped there).
        cluster.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- worker side ---------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """Who started a task before: ``worker``'s address, and whether that run got to its end."""

    worker: str
    done: bool


def claim(run_id: str, key: str) -> Claim | None:
    """Record on the scheduler that this worker starts task ``key`` of run ``run_id``.

    Call it first thing in a task that must never run twice; call :func:`finish`
    when it has done its work.

    Returns:
        ``None`` the first time. On a later run of the task (dask runs it again when
        the worker that ran it, or that held its result, died or was lost): the
        earlier run's :class:`Claim`, and the record now names this worker.
    """
    client = dd.get_client()
    path = [CLAIMS, run_id, key]
    previous = client.get_metadata(path, None)
    client.set_metadata(path, {"worker": dd.get_worker().address, "done": False})
    if not isinstance(previous, dict):
        return None
    return Claim(str(previous.get("worker")), bool(previous.get("done")))


def finish(run_id: str, key: str) -> None:
    """Record that task ``key`` of run ``run_id`` did its work (its result may still be lost with its worker)."""
    dd.get_client().set_metadata([CLAIMS, run_id, key], {"worker": dd.get_worker().address, "done": True})


class WorkerHooks(dd.WorkerPlugin):  # type: ignore[misc]
    """Tells worker-side code when a running task of its own is let go, and when the worker closes.

    Installed once per worker under ``name`` (``idempotent``: installing it again
    does nothing, so concurrent callers never tear each other's down). The callables
    travel by reference, so they must be module-level functions of an installed package.

    Args:
        name: the plugin's name on the workers.
        key_prefix: only tasks whose key starts with it are reported.
        on_setup: called on the worker's event loop when the hooks are installed.
        on_let_go: ``on_let_go(key)`` when an executing task is cancelled or released;
            called on the event loop, so it must return at once.
        on_close: called when the worker closes (or the hooks are removed), in a
            thread of its own; the close waits for it up to a bound.
    """

    idempotent = True

    def __init__(
        self,
        name: str,
        key_prefix: str,
        on_setup: Callable[[], None],
        on_let_go: Callable[[str], None],
        on_close: Callable[[], None],
    ) -> None:
        self.name = name
        self.key_prefix = key_prefix
        self.on_setup = on_setup
        self.on_let_go = on_let_go
        self.on_close = on_close

    def setup(self, worker: Any) -> None:
        self.on_setup()

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if start == "executing" and finish in _LET_GO and isinstance(key, str) and key.startswith(self.key_prefix):
            try:
                self.on_let_go(key)
            except Exception:
                log.exception("on_let_go(%r) failed", key)

    async def teardown(self, worker: Any) -> None:
        # Stopping runners takes seconds (their stop ladder): not on the event loop.
        thread = threading.Thread(target=self._close, name=f"{self.name}-close", daemon=True)
        thread.start()
        deadline = time.monotonic() + _CLOSE_BUDGET
        while thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if thread.is_alive():
            log.warning("%s: close still running after %g s; the worker goes on closing", self.name, _CLOSE_BUDGET)

    def _close(self) -> None:
        try:
            self.on_close()
        except Exception:
            log.exception("%s: close failed", self.name)

