"""Worker processes for ``replay(..., jobs=N)``: many files summarised side by side.

Only summaries cross process boundaries, never messages. The parent sends each
worker one task at a time (a path and the options), largest file first, so no
worker is left alone with a big file at the end; the worker replays that path
through its own :class:`~sidecar_sync.replay._source.SourceReplay` and sends back
the :class:`~sidecar_sync.replay.FileSummary` (or the exception). Streams cannot
cross processes: a thread in the parent reads them meanwhile. The per-file results
are put back in the order the sources were given, so the merged summary is the one
a single process computes.

Not :class:`multiprocessing.pool.Pool`: that one silently replaces a worker that
dies (a crash, an OOM kill, a spawned child that cannot import the main module) and
can wait for ever. Here a worker that dies mid-task is an error naming the file it
was reading, and leaving the pool terminates whatever still runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from typing import Any, Final, NamedTuple

from ..errors import ReplayError
from ._source import ReplayOptions, SourceReplay
from ._sources import ByteCounter, Source, size_or_zero
from ._summary import FileSummary

__all__ = ["default_start_method", "run_parallel"]

#: Seconds between progress reports while the workers run.
_TICK: Final = 0.1
#: Seconds a worker gets to exit after the parent said it is done, or after SIGTERM.
_EXIT_WAIT: Final = 5.0
#: Seconds the parent waits for the stream thread when the run failed: a stream
#: (stdin) may never end, and the thread is a daemon that stops with the process.
_ABANDON_WAIT: Final = 1.0


def default_start_method() -> str:
    """``fork`` when it is safe (one thread, a platform that has it), else ``spawn``.

    Forking a process whose other threads may hold locks can deadlock the child.
    """
    if hasattr(os, "fork") and threading.active_count() == 1:
        return "fork"
    return "spawn"


def run_parallel(
    sources: list[Source],
    options: ReplayOptions,
    jobs: int,
    start_method: str,
    report: Callable[[int], None] | None,
) -> list[FileSummary]:
    """Summarise every source, the paths in up to ``jobs`` worker processes.

    Args:
        sources: paths and streams, in order.
        options: how to read them.
        jobs: the most worker processes (no more than there are paths).
        start_method: the :mod:`multiprocessing` start method.
        report: called with the bytes read so far, every :data:`_TICK` seconds
            while workers run and once at the end.

    Returns:
        One :class:`FileSummary` per source, in the order of ``sources``.

    Raises:
        ReplayError: a source could not be read (unless ``options.skip_errors``),
            or a worker process died.
    """
    import multiprocessing  # only parallel runs pay for it

    ctx = multiprocessing.get_context(start_method)
    paths = {i: os.fspath(source) for i, source in enumerate(sources) if isinstance(source, (str, os.PathLike))}
    sizes = {i: size_or_zero(path) for i, path in paths.items()}
    # Largest first, so no worker is left alone with a big file at the end.
    tasks = [_Task(i, paths[i], options) for i in sorted(paths, key=lambda i: -sizes[i])]
    counter = ctx.Value("q", 0) if report is not None else None
    results: dict[int, FileSummary] = {}
    streams = _StreamReader(sources, [i for i in range(len(sources)) if i not in paths], options, results)

    def tick() -> None:
        if report is not None:
            report(streams.bytes + (counter.value if counter is not None else 0))

    with _WorkerPool(ctx, min(jobs, len(tasks)), counter) as pool:
        streams.start()  # after the workers exist: a fork never copies this thread
        try:
            for index, summary in pool.run(tasks, tick):
                results[index] = summary
        except BaseException:
            streams.join(timeout=_ABANDON_WAIT)
            raise
        streams.join()
        streams.reraise()
        tick()
    return [results[i] for i in range(len(sources))]


class _StreamReader(threading.Thread):
    """Reads the stream sources of a parallel replay in the parent (streams cannot cross processes)."""

    def __init__(
        self, sources: list[Source], indexes: list[int], options: ReplayOptions, results: dict[int, FileSummary]
    ) -> None:
        super().__init__(name="sidecar-sync-replay-streams", daemon=True)
        self.sources = sources
        self.indexes = indexes
        self.options = options
        self.results = results
        self.bytes = 0  # written by this thread only; read for progress reports
        self.error: BaseException | None = None

    def _count(self, n: int) -> None:
        self.bytes += n

    def run(self) -> None:
        try:
            for i in self.indexes:
                self.results[i] = SourceReplay(self.sources[i], self.options, summary_only=True).run(self._count)
        except BaseException as exc:  # re-raised in the caller's thread
            self.error = exc

    def reraise(self) -> None:
        """Raise what ended :meth:`run`, if anything did (call after joining)."""
        if self.error is not None:
            raise self.error


class _Task(NamedTuple):
    """One path for a worker to summarise; ``position`` is its place among the sources."""

    position: int
    path: str
    options: ReplayOptions


class _WorkerPool:
    """A few worker processes, one pipe each, handed one task at a time."""

    def __init__(self, ctx: BaseContext, size: int, counter: Any) -> None:
        self.ctx = ctx
        self.size = size
        self.counter = counter
        self.workers: list[tuple[Any, Connection]] = []  # (process, parent end of its pipe)

    def __enter__(self) -> _WorkerPool:
        for n in range(self.size):
            parent_end, child_end = self.ctx.Pipe()
            process = self.ctx.Process(  # type: ignore[attr-defined]
                target=_worker_main, args=(child_end, self.counter), name=f"sidecar-sync-replay-{n}", daemon=True
            )
            process.start()
            child_end.close()
            self.workers.append((process, parent_end))
        return self

    def __exit__(self, *exc_info: object) -> None:
        ok = exc_info[0] is None
        for process, conn in self.workers:
            if process.is_alive() and ok:
                with contextlib.suppress(OSError):
                    conn.send(None)  # done: exit normally
        for process, conn in self.workers:
            process.join(timeout=_EXIT_WAIT if ok else 0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=_EXIT_WAIT)
            if process.is_alive():  # pragma: no cover - a worker ignoring SIGTERM
                process.kill()
                process.join(timeout=_EXIT_WAIT)
            conn.close()

    def run(self, tasks: list[_Task], tick: Callable[[], None]) -> Iterator[tuple[int, FileSummary]]:
        """Yield ``(index, summary)`` per task as workers finish them; call ``tick`` every :data:`_TICK` s."""
        queue = list(reversed(tasks))  # pop() takes the first task
        busy: dict[Connection, _Task] = {}  # pipe -> the task its worker is on
        process_of = {conn: process for process, conn in self.workers}
        for _, conn in self.workers:
            if queue:
                task = queue.pop()
                conn.send(task)
                busy[conn] = task
        while busy:
            sentinels = {process_of[conn].sentinel: conn for conn in busy}
            ready = wait([*busy, *sentinels], timeout=_TICK)
            tick()
            for item in ready:
                done = item if isinstance(item, Connection) else sentinels.get(item) if isinstance(item, int) else None
                if done is None or done not in busy:
                    continue  # its pipe and its sentinel were both ready: handled once
                task = busy.pop(done)
                try:
                    outcome, payload = done.recv()
                except (EOFError, OSError):
                    process = process_of[done]
                    process.join(timeout=_EXIT_WAIT)
                    raise ReplayError(
                        f"{task.path}: the replay worker process died (exit code {process.exitcode})",
                        source=task.path,
                    ) from None
                if outcome == "error":
                    raise payload
                yield task.position, payload
                if queue:
                    task = queue.pop()
                    done.send(task)
                    busy[done] = task


def _worker_main(conn: Connection, counter: Any) -> None:
    """A worker process: replay the paths the parent sends until it sends ``None``."""
    # Ctrl-C reaches the whole process group: the parent handles it and ends the
    # workers; a worker dying on KeyboardInterrupt would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    progress: ByteCounter | None = None
    if counter is not None:

        def progress(n: int) -> None:
            with counter.get_lock():
                counter.value += n

    while True:
        try:
            task: _Task | None = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        if task is None:
            return
        result: tuple[str, object]
        try:
            result = ("ok", SourceReplay(task.path, task.options, summary_only=True).run(progress))
        except BaseException as exc:  # every failure goes back to the parent
            result = ("error", exc)
        try:
            conn.send(result)
        except Exception as exc:  # an exception that does not pickle
            conn.send(("error", ReplayError(f"{task.path}: {type(exc).__name__}: {result[1]!r}", source=task.path)))
