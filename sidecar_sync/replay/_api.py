"""The public entry points: :class:`Replay` (iterate for messages) and :func:`replay` (the summary).

:class:`Replay` holds the options and the sources, replays the sources one after
another in this process (one :class:`~sidecar_sync.replay._source.SourceReplay`
each) and keeps their :class:`FileSummary` objects; :meth:`Replay.run` hands the
paths to worker processes instead when asked to (:mod:`sidecar_sync.replay._pool`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from ..errors import InvalidOptionError, ReplayError
from ..framer import MAX_LINE_SIZE, MAX_PENDING
from ..messages import Adapter, AgentMessage
from ._source import ReplayOptions, SourceReplay, check_options
from ._sources import DEFAULT_CHUNK_SIZE, ProgressCallback, Source, as_sources, is_path, total_size
from ._summary import FileSummary, ReplaySummary

__all__ = ["Replay", "replay"]

_ERRORS = ("raise", "skip")


class Replay:
    """A replay of one or more sources, iterated for its messages.

    Args:
        sources: a path, a binary stream, or a sequence of them; replayed in order.
        provider: the adapter to use: a provider name (``"claude"``, ``"codex"``,
            ``"ollama"``, any registered name) or an adapter callable. ``None``
            means ``"auto"``: each source's stream adapter detects the shape.
        max_line_size: lines longer than this are dropped whole (counted).
        max_pending: the most bytes a pipeline holds between reads.
        chunk_size: bytes per read, at most :data:`~sidecar_sync.framer.FEED_WINDOW`.
        progress: called as ``progress(done, total)`` after each read.
        errors: ``"raise"`` (default): a source that cannot be opened, read or
            gunzipped, or that holds lines of which none is a JSON object, raises
            :class:`~sidecar_sync.errors.ReplayError` naming it (a missing file:
            :class:`~sidecar_sync.errors.ReplaySourceMissingError`, also a
            ``FileNotFoundError``). An empty source is not an error.
            ``"skip"``: the error is logged and kept in that source's
            :attr:`FileSummary.error`, and the replay goes on with the next source.

    Raises:
        InvalidOptionError: a bad limit, chunk size or ``errors`` value.
        UnknownProviderError: the provider is not registered.

    Example::

        rep = Replay(["session.jsonl", "older.jsonl.gz"])
        for message in rep:
            print(message.type, message.content)
        print(rep.summary.by_type, rep.summary.cost_usd)
    """

    def __init__(
        self,
        sources: Source | Sequence[Source],
        *,
        provider: str | Adapter | None = None,
        max_line_size: int = MAX_LINE_SIZE,
        max_pending: int = MAX_PENDING,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: ProgressCallback | None = None,
        errors: str = "raise",
    ) -> None:
        if errors not in _ERRORS:
            raise InvalidOptionError(f"errors must be 'raise' or 'skip', got {errors!r}")
        self.sources = as_sources(sources)
        self.provider: str | Adapter = "auto" if provider is None else provider
        self._options = ReplayOptions(self.provider, max_line_size, max_pending, chunk_size, errors == "skip")
        check_options(self._options)
        self.max_line_size = max_line_size
        self.max_pending = max_pending
        self.chunk_size = chunk_size
        self.errors = errors
        self._progress = progress
        self._done_bytes = 0
        self._total_bytes = total_size(self.sources) if progress is not None else None
        self._files: list[FileSummary] = []
        self._current: SourceReplay | None = None
        self._elapsed = 0.0

    def _advance(self, n: int) -> None:
        self._done_bytes += n
        if self._progress is not None:
            self._progress(self._done_bytes, self._total_bytes)

    def batches(self) -> Iterator[list[AgentMessage]]:
        """Yield the messages of every source, in order, one list per pipeline batch.

        A batch holds the messages of at most :data:`~sidecar_sync.pipeline.PIECE_SIZE`
        bytes of input (plus a line that ended in them).

        Raises:
            ReplayError: a source could not be read to its end (``errors="raise"``).
        """
        return self._replay(summary_only=False)

    def _replay(self, *, summary_only: bool) -> Iterator[list[AgentMessage]]:
        progress = self._advance if self._progress is not None else None
        for source in self.sources:
            one = SourceReplay(source, self._options, summary_only=summary_only)
            self._current = one
            started = time.perf_counter()
            try:
                yield from one.batches(progress)
            except ReplayError as exc:
                if self.errors == "raise":
                    self._files.append(one.summary)
                    raise
                one.record_error(exc)
            finally:
                self._elapsed += time.perf_counter() - started
                self._current = None
            self._files.append(one.summary)

    def __iter__(self) -> Iterator[AgentMessage]:
        for batch in self.batches():
            yield from batch

    def run(self, jobs: int = 1, *, start_method: str | None = None) -> ReplaySummary:
        """Replay everything for the summary alone (no messages are kept).

        Args:
            jobs: worker processes. Sources that are paths are spread over them,
                largest first; streams are read in this process meanwhile. With
                ``1`` (or fewer than two paths) everything is read here. The
                summary does not depend on ``jobs``.
            start_method: the multiprocessing start method for ``jobs > 1``.
                By default ``"fork"`` when this process runs a single thread and
                the platform has fork (cheapest start, and workers see adapters
                registered at run time), else ``"spawn"``: forking a process
                whose other threads may hold locks can deadlock the child.
                Spawned workers do not see adapters registered at run time;
                register custom providers in a module the workers import, or pass
                an importable adapter function.

        Returns:
            The :class:`ReplaySummary` of every source.

        Raises:
            InvalidOptionError: ``jobs`` is not a positive int.
            ReplayError: a source could not be read (``errors="raise"``), or a
                worker process died.
        """
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise InvalidOptionError(f"jobs must be a positive int, got {jobs!r}")
        started = time.perf_counter()
        if jobs == 1 or sum(map(is_path, self.sources)) < 2:
            for _ in self._replay(summary_only=True):
                pass
        else:
            from ._pool import default_start_method, run_parallel  # only parallel runs load multiprocessing

            report = self._report if self._progress is not None else None
            self._files = run_parallel(
                self.sources, self._options, jobs, start_method or default_start_method(), report
            )
        return ReplaySummary.merge(self._files, time.perf_counter() - started)

    def _report(self, parallel_bytes: int) -> None:
        if self._progress is not None:
            self._progress(self._done_bytes + parallel_bytes, self._total_bytes)

    @property
    def summary(self) -> ReplaySummary:
        """Totals of what has been replayed so far (complete once iteration ended)."""
        files = list(self._files)
        if self._current is not None:
            files.append(self._current.snapshot())
        return ReplaySummary.merge(files, self._elapsed)


def replay(
    sources: Source | Sequence[Source],
    *,
    provider: str | Adapter | None = None,
    jobs: int = 1,
    max_line_size: int = MAX_LINE_SIZE,
    max_pending: int = MAX_PENDING,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: ProgressCallback | None = None,
    errors: str = "raise",
    start_method: str | None = None,
) -> ReplaySummary:
    """Replay sources for their summary: counts per message type, cost, tokens, bad lines.

    Args:
        sources: a path, a binary stream, or a sequence of them.
        provider: provider name or adapter callable; ``None`` detects it per source.
        jobs: worker processes for many files (see :meth:`Replay.run`).
        max_line_size: lines longer than this are dropped whole (counted).
        max_pending: the most bytes a pipeline holds between reads.
        chunk_size: bytes per read.
        progress: called as ``progress(done, total)`` as input is read.
        errors: ``"raise"`` or ``"skip"`` unreadable sources (see :class:`Replay`).
        start_method: multiprocessing start method when ``jobs > 1``.

    Returns:
        The merged :class:`ReplaySummary`; equal (``==``) whatever ``jobs`` is.

    Raises:
        ReplayError: a source could not be opened, read or gunzipped (names it).
        InvalidOptionError: a bad option.
        UnknownProviderError: the provider is not registered.
    """
    return Replay(
        sources,
        provider=provider,
        max_line_size=max_line_size,
        max_pending=max_pending,
        chunk_size=chunk_size,
        progress=progress,
        errors=errors,
    ).run(jobs, start_method=start_method)
