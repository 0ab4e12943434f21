"""Checking that every worker can run sidecar_sync as this process does.

Runners start as ``python -I -m sidecar_sync.runners.<name>``, so the package must be
*installed* on each worker, for the interpreter the worker runs; the C framer must
have loaded there (a C extension does not load from a zip, and the pure-Python twin
would be used without a word); and the version must match this one, or summaries
and results could differ from a local run. :func:`preflight` checks all three and
names every worker that fails, with the reason.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SidecarError

if TYPE_CHECKING:
    from distributed import Client

    from ._engine import Engine

__all__ = ["PreflightError", "WorkerReport", "preflight", "check", "ensure"]

_INSTALL_HINT = (
    "install the package on every worker, for the interpreter the worker runs "
    "(pip install 'sidecar-sync[dask]'); PYTHONPATH, zips and Client.upload_file do not reach runners"
)


class PreflightError(SidecarError, RuntimeError):
    """Some workers cannot run sidecar_sync as this process does.

    Attributes:
        problems: worker address -> what is wrong there.
    """

    def __init__(self, problems: dict[str, str]) -> None:
        lines = "\n".join(f"  {worker}: {problem}" for worker, problem in sorted(problems.items()))
        super().__init__(f"{len(problems)} worker(s) cannot run sidecar_sync:\n{lines}")
        self.problems = dict(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,))


@dataclass(frozen=True)
class WorkerReport:
    """What one worker runs.

    Attributes:
        address: the worker's address.
        executable: its interpreter.
        python: that interpreter's version.
        version: sidecar_sync's version as ``python -I`` imports it there (None: not importable).
        backend: the framer backend there (``"c"`` or ``"python"``; None: not importable).
        problem: why the worker fails the check, or None.
    """

    address: str
    executable: str | None
    python: str | None
    version: str | None
    backend: str | None
    problem: str | None


def _report(address: str, found: Any, version: str) -> WorkerReport:
    if isinstance(found, BaseException) or not isinstance(found, dict):
        return WorkerReport(address, None, None, None, None, f"the probe failed: {type(found).__name__}: {found}")
    problem = None
    if "error" in found:
        problem = f"`{found.get('executable')} -I` cannot import sidecar_sync ({found['error']}): {_INSTALL_HINT}"
    elif found.get("backend") != "c":
        problem = (
            f"the C framer is not loaded there (backend {found.get('backend')!r}): "
            "check SIDECAR_SYNC_FRAMER in the worker's environment and that the package was built with a C compiler"
        )
    elif found.get("version") != version:
        problem = f"sidecar_sync {found.get('version')} there, {version} here: install the same version everywhere"
    return WorkerReport(
        address,
        found.get("executable"),
        found.get("python"),
        found.get("version"),
        found.get("backend"),
        problem,
    )


def check(engine: Engine) -> dict[str, WorkerReport]:
    """Probe every worker of ``engine``'s cluster (see :func:`preflight`)."""
    import sidecar_sync

    from . import _probe

    found = engine.run_on_workers(_probe.probe, by_value=_probe)
    reports = {addr: _report(addr, value, sidecar_sync.__version__) for addr, value in found.items()}
    problems = {addr: r.problem for addr, r in reports.items() if r.problem is not None}
    if not reports:
        raise PreflightError({engine.address: "the cluster has no workers"})
    if problems:
        raise PreflightError(problems)
    return reports


_checked_lock = threading.Lock()
#: (scheduler address, worker addresses) already found fit by :func:`ensure`.
_checked: set[tuple[str, frozenset[str]]] = set()


def ensure(engine: Engine) -> None:
    """:func:`check` the cluster's workers once per set of workers (a cluster with none is let be)."""
    workers = frozenset(engine.threads())
    if not workers:
        return  # an adaptive cluster may have none yet; tasks wait for workers as dask does
    seen = (engine.address, workers)
    with _checked_lock:
        if seen in _checked:
            return
    check(engine)
    with _checked_lock:
        _checked.add(seen)


def preflight(client: Client | str | None = None) -> dict[str, WorkerReport]:
    """Check that every worker can run sidecar_sync: installed, C framer, same version.

    Each worker starts ``python -I`` (its own interpreter, isolated as runners are)
    and imports the package. :func:`~sidecar_sync.dist.replay` and
    :func:`~sidecar_sync.dist.run_sessions` run this check themselves, once per set
    of workers; call it to fail early, or after new workers joined.

    Args:
        client: a ``distributed.Client``, a scheduler address, or ``None``
            (``DASK_SCHEDULER_ADDRESS``, else a local cluster, closed afterwards).

    Returns:
        A :class:`WorkerReport` per worker address.

    Raises:
        PreflightError: naming each worker that fails, and why.
    """
    from ._engine import LocalSpec, connect

    with connect(client, LocalSpec(1, 1)) as engine:
        return check(engine)
