"""Replaying many files on a cluster: batches of files per task, reduced on the workers.

The driver sizes the files, groups them in order into batches of about
``batch_bytes`` (:mod:`._batches`) and submits one task per batch. A task replays
its files one after the other in the worker process with
:func:`sidecar_sync.replay.replay` (``jobs=1``: dask workers are daemonic processes,
which may not start processes of their own) and sends back only the per-file
:class:`~sidecar_sync.replay.FileSummary` list, never messages. The driver merges
the lists in file order, so the result equals a local ``replay(paths)``.

A task whose worker died while it ran is not replayed again: its second run (dask
re-runs it on another worker) finds the first run's claim and fails with a
:class:`~sidecar_sync.errors.ReplayError` naming the batch's files, so a file that
kills workers is named instead of taking down worker after worker. A task that had
finished, but whose result was lost with its worker, is replayed again.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidOptionError, ReplayError, WaitTimeoutError

if TYPE_CHECKING:
    from distributed import Client

    from ..replay import FileSummary, ProgressCallback, ReplaySummary

__all__ = ["replay", "replay_batch", "KEY_PREFIX"]

log = logging.getLogger(__name__)

#: Keys of replay tasks start with this (then the run id and the batch number).
KEY_PREFIX = "sidecar-sync-replay-"


def _local_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the worker reports why, as a local replay would


def _describe(names: Sequence[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def replay_batch(
    run_id: str, key: str, names: list[str], cwd: str, options: dict[str, Any], errors: str
) -> list[FileSummary]:
    """The task: replay ``names`` in this worker process; return their per-file summaries.

    Relative names are read from the driver's working directory ``cwd`` and
    reported as given.

    Raises:
        ReplayError: a file failed with ``errors="raise"``; or this batch already ran
            on a worker that died (the message names the files).
    """
    from ..replay import replay as local_replay
    from ._engine import claim, finish

    previous = claim(run_id, key)
    if previous is not None and not previous.done:
        raise ReplayError(
            f"the worker replaying these files died ({previous.worker}); not replayed again: {_describe(names)}",
            source=names[0],
        )
    # A batch that got to its end before (its result was lost with its worker) is
    # simply replayed again: replaying has no side effects.
    here = os.getcwd()
    paths = [n if os.path.isabs(n) or here == cwd else os.path.join(cwd, n) for n in names]
    files = local_replay(paths, jobs=1, errors=errors, **options).files
    for name, path, summary in zip(names, paths, files, strict=True):
        if path != name:
            summary.source = name
            if summary.error is not None and summary.error.startswith(path):
                summary.error = name + summary.error[len(path) :]
    finish(run_id, key)
    return files


def _check(paths: Any, batch_bytes: Any, errors: Any) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    names = []
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidOptionError(
                f"dist.replay takes paths (the workers open them), got {type(path).__name__}: "
                "replay streams with sidecar_sync.replay.replay"
            )
        names.append(os.fsdecode(path))
    if not isinstance(batch_bytes, int) or isinstance(batch_bytes, bool) or batch_bytes < 1:
        raise InvalidOptionError(f"batch_bytes must be a positive int, got {batch_bytes!r}")
    if errors not in ("raise", "skip"):
        raise InvalidOptionError(f"errors must be 'raise' or 'skip', got {errors!r}")
    return names


def replay(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    client: Client | str | None = None,
    batch_bytes: int = 64 * 2**20,
    errors: str = "raise",
    progress: ProgressCallback | None = None,
    provider: Any = None,
    timeout: float | None = None,
    **options: Any,
) -> ReplaySummary:
    """Replay files on a dask cluster for their summary; equal to :func:`sidecar_sync.replay.replay`.

    Files are grouped in order into tasks of about ``batch_bytes`` (fewer bytes per
    task when the corpus is small for the cluster, see :func:`._batches.spread_target`),
    each replayed in one worker process; only per-file summaries come back.

    Args:
        paths: a path or paths, read by the workers: on a real cluster, give paths
            every worker sees (a shared filesystem). Relative paths are resolved
            against this process's working directory.
        client: a ``distributed.Client``, a scheduler address, or ``None``:
            ``DASK_SCHEDULER_ADDRESS`` if set, else a ``LocalCluster`` with one
            single-threaded worker process per CPU, closed afterwards.
        batch_bytes: the most bytes a task of several files holds.
        errors: ``"raise"`` the first file error that comes back (the other tasks
            are cancelled), or ``"skip"``: record it in that file's summary.
        progress: ``progress(done, total)`` in bytes of input (file sizes), after
            each finished task.
        provider: the adapter, as in the local replay (a name registered on the
            workers, or an importable adapter function).
        timeout: seconds for the whole replay; ``None`` waits for ever.
        options: ``max_line_size``, ``max_pending``, ``chunk_size``, as in the local replay.

    Returns:
        The merged :class:`~sidecar_sync.replay.ReplaySummary`, files in the order given.

    Raises:
        ReplayError: a file could not be read (``errors="raise"``), or a worker died
            while replaying a batch (whatever ``errors`` is; the message names its files).
        WaitTimeoutError: ``timeout`` passed (the tasks were cancelled).
        PreflightError: a worker cannot run sidecar_sync.
        InvalidOptionError: a bad argument.
    """
    from ..replay import Replay, ReplaySummary
    from . import _batches, _engine, _preflight

    names = _check(paths, batch_bytes, errors)
    Replay([], provider=provider, errors=errors, **options)  # validates the options here, before any task
    if provider is not None:
        options["provider"] = provider
    started = time.perf_counter()
    if not names:
        return ReplaySummary.merge([], time.perf_counter() - started)
    sizes = [_size(n) for n in names]
    total = sum(sizes)
    cwd = os.getcwd()
    run_id = uuid.uuid4().hex
    local = _engine.LocalSpec(n_workers=min(_local_workers(), len(names)), threads_per_worker=1)
    with _engine.connect(client, local) as engine:
        _preflight.ensure(engine)
        target = _batches.spread_target(batch_bytes, total, sum(engine.threads().values()))
        batches = _batches.plan_batches(sizes, target)
        tasks = []
        for n, batch in enumerate(batches):
            key = f"{KEY_PREFIX}{run_id}-{n}"
            part = [names[i] for i in batch]
            tasks.append(engine.submit(replay_batch, run_id, key, part, cwd, options, errors, key=key))
        log.info("replaying %d files (%d bytes) in %d tasks on %s", len(names), total, len(tasks), engine.address)
        results: list[list[FileSummary] | None] = [None] * len(batches)
        done = 0
        try:
            for outcome in engine.completed(tasks, timeout):
                batch = batches[outcome.index]
                if not outcome.ok:
                    raise _batch_error(outcome.value, [names[i] for i in batch])
                results[outcome.index] = outcome.value
                done += sum(sizes[i] for i in batch)
                if progress is not None:
                    progress(done, total)
        except TimeoutError:
            engine.cancel(tasks)
            left = sum(r is None for r in results)
            raise WaitTimeoutError(f"dist.replay: {left} of {len(tasks)} tasks not done after {timeout} s") from None
        except BaseException:
            engine.cancel(tasks)
            raise
        finally:
            engine.forget_claims(run_id)
    files = [summary for part in results if part is not None for summary in part]
    return ReplaySummary.merge(files, time.perf_counter() - started)


def _batch_error(exc: BaseException, names: list[str]) -> BaseException:
    """The error a failed task becomes: a file's own error as it is, anything else naming the files."""
    if isinstance(exc, ReplayError):
        return exc
    if type(exc).__name__ == "KilledWorker":  # dask gave up after the worker(s) running it died
        return ReplayError(f"the worker replaying these files died; not replayed again: {_describe(names)}", names[0])
    if isinstance(exc, Exception):
        error = ReplayError(f"replaying {_describe(names)} failed: {type(exc).__name__}: {exc}", names[0])
        error.__cause__ = exc
        return error
    return exc
