"""Replay recorded NDJSON transcripts into :class:`~sidecar_sync.messages.AgentMessage` objects.

A transcript is what an agent printed: raw Claude Code ``stream-json``, Codex
``exec --json`` JSONL, or the output of a sidecar runner (provider events wrapped
in ``agent_event`` lines, mixed with protocol control lines). Replay pushes the
bytes through the same :class:`~sidecar_sync.decoder.EventDecoder` (C framer +
orjson) and the same stream adapters as a live session, so a replayed file yields
the messages a live session would have delivered, as fast as the machine allows.

Sources are paths (``str`` or :class:`os.PathLike`) or binary streams (anything
with ``read``; ``read1`` is used when present, so a pipe is replayed as it
arrives). Gzip input is recognised by its magic bytes (a ``.gz`` name that is not
gzip is an error), including concatenated members. Each source gets its own
decoder and its own stream adapter: adapters keep per-stream state (Codex token
deltas, the ``auto`` provider decision), so files never leak into each other.

Two ways in:

* :class:`Replay` — iterate it for messages (or :meth:`Replay.batches` for lists,
  one per read chunk); :attr:`Replay.summary` counts what has been read so far.
* :func:`replay` — just the :class:`ReplaySummary`, optionally with ``jobs=N``
  worker processes for many files. The summary is the same whatever ``jobs`` is:
  each file is summarised alone and the per-file results are merged in the order
  the sources were given.

Protocol lines in runner output are handled as a live session handles them:
``agent_event`` is unwrapped and its ``event`` adapted (a wrapper without an
object ``event`` is skipped and counted invalid); ``ready``, ``pong``,
``agent_started`` and ``agent_stopped`` are counted as control lines and skipped;
``error`` is counted and surfaces as an ``error`` message carrying its
``message``, as in a live session. ``agent_error`` is counted and, since a replay
has no status channel to report a failed turn on, also surfaces as an ``error``
message (a live session reports it as the status change ``idle`` with an error). A bare ``error`` line counts as
protocol only after another protocol line was seen in the same source: in a raw
Codex transcript ``{"type": "error"}`` is Codex's own event and goes to the adapter.

Cost accounting (see :class:`ReplaySummary`): a provider's ``total_cost_usd`` is
a running total for its session, so within a file the latest value per session
counts (the session is the one named by the latest ``init`` message), and the
files' costs are added up. Tokens are per turn, so they are added up everywhere.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from typing import IO, Any, Callable, Final, Iterable, Iterator, NamedTuple, Sequence, Union

from .adapters import new_stream_adapter
from .decoder import EventDecoder
from .errors import FramerError, InvalidOptionError, ReplayError, ReplaySourceMissingError
from .framer import FEED_WINDOW, MAX_LINE_SIZE, MAX_PENDING
from .messages import MESSAGE_TYPES, AgentMessage
from .pipeline import Pipeline

__all__ = [
    "Replay",
    "ReplaySummary",
    "FileSummary",
    "Source",
    "ProgressCallback",
    "replay",
    "source_name",
    "DEFAULT_CHUNK_SIZE",
]

log = logging.getLogger(__name__)

#: Bytes asked of the OS per read. Large reads keep the per-chunk Python work
#: (one framer call, one batched parse, one adapter call) small against the bytes.
DEFAULT_CHUNK_SIZE: Final = 2**20

#: A path, or a binary stream with ``read`` (and ideally ``read1``).
Source = Union[str, "os.PathLike[str]", IO[bytes]]

#: ``progress(done, total)``: bytes of input read so far (compressed bytes for gzip)
#: and the total when every source is a file of known size, else ``None``.
ProgressCallback = Callable[[int, Union[int, None]], None]

_GZIP_MAGIC: Final = b"\x1f\x8b"
_TYPE_ORDER: Final = (
    "init",
    "text",
    "thinking",
    "tool_call",
    "tool_result",
    "status",
    "compaction",
    "cost",
    "error",
    "unknown",
)
_get_type = attrgetter("type")


# -- summaries ----------------------------------------------------------------------


@dataclass(slots=True)
class FileSummary:
    """What replaying one source produced.

    Attributes:
        source: the path as given, or ``"<stdin>"``/the stream's name.
        bytes: NDJSON bytes decoded (after gunzip).
        lines: non-blank lines framed (oversized lines excluded).
        events: lines that were JSON objects.
        control_lines: runner protocol lines (``ready``, ``agent_stopped``, ...).
        invalid_lines: lines that were not a JSON object, and ``agent_event``
            lines whose ``event`` is not one (logged, skipped).
        oversized_lines: lines dropped whole for exceeding ``max_line_size``.
        dropped_bytes: bytes of those oversized lines.
        messages: AgentMessages produced.
        by_type: messages per type.
        cost_usd: the latest ``total_cost_usd`` of each session, added up.
        input_tokens: input tokens of every turn, added up.
        output_tokens: output tokens of every turn, added up.
        sessions: distinct session ids seen in ``init`` messages (per file: the
            total adds them up, so a session split over files counts once per file).
        error: why the source could not be read to its end (only with
            ``errors="skip"``; the counts then cover what was read before).
    """

    source: str
    bytes: int = 0
    lines: int = 0
    events: int = 0
    control_lines: int = 0
    invalid_lines: int = 0
    oversized_lines: int = 0
    dropped_bytes: int = 0
    messages: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    sessions: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: the attributes above by name."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


#: The totals a :class:`ReplaySummary` adds up from its files, in report order.
_TOTALS: Final = tuple(name for name in FileSummary.__dataclass_fields__ if name not in ("source", "error"))
#: ... those that are plain sums (``by_type`` is merged per type).
_SUMS: Final = tuple(name for name in _TOTALS if name != "by_type")


@dataclass(slots=True)
class ReplaySummary:
    """Totals over every source of a replay (each a :class:`FileSummary`, merged in order).

    Attributes:
        files: per-source summaries, in the order the sources were given.
        elapsed: wall-clock seconds the replay took (not part of equality).

    The totals (``bytes``, ``lines``, ``events``, ``control_lines``,
    ``invalid_lines``, ``oversized_lines``, ``dropped_bytes``, ``messages``,
    ``by_type``, ``cost_usd``, ``input_tokens``, ``output_tokens``, ``sessions``)
    are the sums of the per-file values. ``cost_usd`` is the sum, over files, of
    the latest cost of each session in that file: a session spread over several
    files (a transcript split in parts) is counted once per file.
    """

    files: list[FileSummary] = field(default_factory=list)
    elapsed: float = field(default=0.0, compare=False)
    bytes: int = 0
    lines: int = 0
    events: int = 0
    control_lines: int = 0
    invalid_lines: int = 0
    oversized_lines: int = 0
    dropped_bytes: int = 0
    messages: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    sessions: int = 0

    @classmethod
    def merge(cls, files: Iterable[FileSummary], elapsed: float = 0.0) -> ReplaySummary:
        """Add up per-file summaries, in the order given (float sums depend on order)."""
        total = cls(files=list(files), elapsed=elapsed)
        by_type: Counter[str] = Counter()
        for part in total.files:
            for name in _SUMS:
                setattr(total, name, getattr(total, name) + getattr(part, name))
            by_type.update(part.by_type)
        total.by_type = _ordered_counts(by_type)
        return total

    @property
    def errors(self) -> list[str]:
        """The errors of sources that could not be read to their end (``errors="skip"``)."""
        return [f.error for f in self.files if f.error]

    @property
    def rate(self) -> float:
        """Decoded bytes per second (0 when nothing was timed)."""
        return self.bytes / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self, *, per_file: bool = True) -> dict[str, Any]:
        """Return the JSON-ready form (what ``sidecar-sync replay --summary --json`` prints).

        Args:
            per_file: include the ``files`` list of per-file summaries.
        """
        out: dict[str, Any] = {"sources": len(self.files)}
        for name in _TOTALS:
            out[name] = getattr(self, name)
        out["by_type"] = dict(self.by_type)
        out["elapsed"] = self.elapsed
        out["errors"] = self.errors
        if per_file:
            out["files"] = [f.to_dict() for f in self.files]
        return out


def _ordered_counts(counts: Counter[str] | dict[str, int]) -> dict[str, int]:
    known = [t for t in _TYPE_ORDER if counts.get(t)]
    extra = sorted(t for t in counts if t not in MESSAGE_TYPES and counts[t])
    return {t: counts[t] for t in known + extra}


# -- reading bytes ------------------------------------------------------------------


def source_name(source: Source) -> str:
    """A printable name for a source: the path, or a stream's ``name``."""
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    name = getattr(source, "name", None)
    if name == 0 or name == "<stdin>":
        return "<stdin>"
    return name if isinstance(name, str) else f"<{type(source).__name__}>"


def _read_path(path: str, chunk_size: int, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        error = ReplaySourceMissingError if isinstance(exc, FileNotFoundError) else ReplayError
        raise error(f"{path}: cannot open: {exc.strerror or exc}", source=path) from exc
    try:
        if hasattr(os, "posix_fadvise"):
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            except OSError:
                pass
        read = os.read
        while True:
            try:
                data = read(fd, chunk_size)
            except OSError as exc:
                raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}", source=path) from exc
            if not data:
                return
            if progress is not None:
                progress(len(data))
            yield data
    finally:
        os.close(fd)


def _read_stream(
    stream: IO[bytes], name: str, chunk_size: int, progress: Callable[[int], None] | None
) -> Iterator[bytes]:
    read = getattr(stream, "read1", None) or stream.read
    while True:
        try:
            data = read(chunk_size)
        except OSError as exc:
            raise ReplayError(f"{name}: cannot read: {exc}", source=name) from exc
        if not data:
            return
        if not isinstance(data, (bytes, bytearray)):
            raise ReplayError(
                f"{name}: the stream gave {type(data).__name__}, not bytes (open it in binary mode)", source=name
            )
        if progress is not None:
            progress(len(data))
        yield bytes(data)


def _gunzip(chunks: Iterator[bytes], name: str, chunk_size: int) -> Iterator[bytes]:
    """Decompress gzip data chunk by chunk, member after member, with bounded output per step.

    Output per call is capped at ``chunk_size``, so a small highly compressed input
    cannot inflate into one huge buffer. zlib checks each member's CRC and length.
    """
    decomp = zlib.decompressobj(wbits=31)
    started = False  # the current decompressor has been given bytes of a member
    try:
        for data in chunks:
            while data:
                if not started:
                    # Zero padding between or after members is tolerated, as gzip does.
                    stripped = data.lstrip(b"\x00")
                    if not stripped:
                        break
                    data = stripped
                    started = True
                out = decomp.decompress(data, chunk_size)
                if out:
                    yield out
                if decomp.eof:
                    data = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=31)
                    started = False
                else:
                    data = decomp.unconsumed_tail
            # all of this chunk was consumed; loop for more input
        if started:
            # Input ended inside a member: drain what zlib still holds, then complain.
            tail = decomp.flush()
            if tail:
                yield tail
            raise ReplayError(f"{name}: gzip data ends early (truncated file?)", source=name)
    except zlib.error as exc:
        raise ReplayError(f"{name}: bad gzip data: {exc}", source=name) from exc


def _byte_chunks(source: Source, name: str, chunk_size: int, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    """The decoded NDJSON bytes of a source, gunzipped when it starts with the gzip magic."""
    raw = (
        _read_path(name, chunk_size, progress)
        if isinstance(source, (str, os.PathLike))
        else _read_stream(source, name, chunk_size, progress)  # type: ignore[arg-type]
    )
    first = b""
    for data in raw:
        first += data
        if len(first) >= len(_GZIP_MAGIC):
            break  # enough to tell gzip from NDJSON (a stream may hand out single bytes)
    if not first:
        return
    if first.startswith(_GZIP_MAGIC):
        yield from _gunzip(_chain(first, raw), name, chunk_size)
        return
    if name.endswith(".gz"):
        raise ReplayError(
            f"{name}: not a gzip file (the name ends in .gz but the data has no gzip header)", source=name
        )
    yield first
    yield from raw


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


# -- one source ---------------------------------------------------------------------


class _SourceReplay:
    """Replays one source: its bytes through a :class:`~sidecar_sync.pipeline.Pipeline`.

    The pipeline does what it does for a live session (framing, parsing, protocol
    lines, adapting, accounting); this class reads the bytes, keeps the per-type
    counts and fills in the :class:`FileSummary`. Turn signals have no status to
    change here: they are counted by the pipeline as control lines.
    """

    __slots__ = ("source", "name", "summary", "_pipeline", "_counts")

    def __init__(self, source: Source, provider: Any, max_line_size: int, max_pending: int) -> None:
        self.source = source
        self.name = source_name(source)
        self.summary = FileSummary(self.name)
        self._pipeline = Pipeline(
            new_stream_adapter(provider), max_line_size=max_line_size, max_pending=max_pending, label=self.name
        )
        self._counts: Counter[str] = Counter()

    def batches(self, chunk_size: int, progress: Callable[[int], None] | None) -> Iterator[list[AgentMessage]]:
        """Yield the messages of each piece of input (empty lists are skipped)."""
        receive = self._pipeline.receive_data
        count = self._counts.update
        try:
            for data in _byte_chunks(self.source, self.name, chunk_size, progress):
                for item in receive(data):
                    if type(item) is tuple:
                        messages = item[0]
                        count(map(_get_type, messages))
                        yield messages
            for item in self._pipeline.receive_eof():
                if type(item) is tuple:
                    messages = item[0]
                    count(map(_get_type, messages))
                    yield messages
            stats = self._pipeline.stats
            if stats.events == 0 and (stats.lines or stats.oversized_lines):
                # Lines, and not one JSON object among them: not a transcript at all
                # (a binary file, a log, the wrong file picked up from a directory).
                lines = stats.lines + stats.oversized_lines
                raise ReplayError(f"{self.name}: no line parsed as a JSON object ({lines} lines)", source=self.name)
        finally:
            # Also on a read error or an abandoned iteration: the counts then
            # cover what was read.
            self._close()

    def snapshot(self) -> FileSummary:
        """A copy of the summary so far (complete once :meth:`batches` has ended)."""
        self._close()
        return dataclasses.replace(self.summary, by_type=dict(self.summary.by_type))

    def _close(self) -> None:
        """Bring the summary up to date with the pipeline's counts."""
        stats = self._pipeline.stats
        usage = self._pipeline.usage
        summary = self.summary
        summary.bytes = stats.bytes
        summary.lines = stats.lines
        summary.events = stats.events
        summary.control_lines = stats.control_lines
        summary.invalid_lines = stats.invalid_lines
        summary.oversized_lines = stats.oversized_lines
        summary.dropped_bytes = stats.dropped_bytes
        summary.by_type = _ordered_counts(self._counts)
        summary.messages = stats.messages
        summary.cost_usd = usage.cost_usd
        summary.input_tokens = usage.input_tokens
        summary.output_tokens = usage.output_tokens
        summary.sessions = len(usage.sessions)

    def run(self, chunk_size: int, progress: Callable[[int], None] | None, skip_errors: bool) -> FileSummary:
        """Replay the whole source for its summary only.

        With ``skip_errors`` a :class:`ReplayError` is recorded in the summary's
        ``error`` instead of raised.
        """
        try:
            for _ in self.batches(chunk_size, progress):
                pass
        except ReplayError as exc:
            if not skip_errors:
                raise
            self.summary.error = str(exc)
            log.error("%s", exc)
        return self.summary


# -- public API ---------------------------------------------------------------------


def _check_options(max_line_size: int, max_pending: int, chunk_size: int, provider: Any, errors: str) -> None:
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or not 1 <= chunk_size <= FEED_WINDOW:
        raise InvalidOptionError(f"chunk_size must be an int between 1 and {FEED_WINDOW}, got {chunk_size!r}")
    if errors not in ("raise", "skip"):
        raise InvalidOptionError(f"errors must be 'raise' or 'skip', got {errors!r}")
    # Building a decoder and an adapter validates the limits and the provider up
    # front, so a bad option fails before any file is opened.
    try:
        EventDecoder(max_line_size, max_pending)
    except FramerError as exc:
        raise InvalidOptionError(str(exc)) from exc
    new_stream_adapter(provider)


def _as_sources(sources: Source | Sequence[Source]) -> list[Source]:
    if isinstance(sources, (str, os.PathLike)) or hasattr(sources, "read"):
        return [sources]  # type: ignore[list-item]
    return list(sources)  # type: ignore[arg-type]


def _is_path(source: Source) -> bool:
    return isinstance(source, (str, os.PathLike))


def _total_size(sources: list[Source]) -> int | None:
    total = 0
    for source in sources:
        if not _is_path(source):
            return None
        try:
            total += os.stat(source).st_size  # type: ignore[arg-type]
        except OSError:
            pass  # reported when the file is opened
    return total


class Replay:
    """A replay of one or more sources, iterated for its messages.

    Args:
        sources: a path, a binary stream, or a sequence of them; replayed in order.
        provider: the adapter to use: a provider name (``"claude"``, ``"codex"``,
            ``"ollama"``, any registered name) or an adapter callable. ``None``
            means ``"auto"``: each source's stream adapter detects the shape.
        max_line_size: lines longer than this are dropped whole (counted).
        max_pending: the most bytes a decoder holds between reads.
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
        provider: Any = None,
        max_line_size: int = MAX_LINE_SIZE,
        max_pending: int = MAX_PENDING,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: ProgressCallback | None = None,
        errors: str = "raise",
    ) -> None:
        self.sources = _as_sources(sources)
        self.provider = "auto" if provider is None else provider
        _check_options(max_line_size, max_pending, chunk_size, self.provider, errors)
        self.max_line_size = max_line_size
        self.max_pending = max_pending
        self.chunk_size = chunk_size
        self.errors = errors
        self._progress = progress
        self._done_bytes = 0
        self._total_bytes = _total_size(self.sources) if progress is not None else None
        self._files: list[FileSummary] = []
        self._current: _SourceReplay | None = None
        self._elapsed = 0.0

    def _source(self, source: Source) -> _SourceReplay:
        return _SourceReplay(source, self.provider, self.max_line_size, self.max_pending)

    def _advance(self, n: int) -> None:
        self._done_bytes += n
        self._progress(self._done_bytes, self._total_bytes)  # type: ignore[misc]

    def batches(self) -> Iterator[list[AgentMessage]]:
        """Yield the messages of every source, in order, one list per decoder feed.

        A piece is at most :data:`~sidecar_sync.pipeline.PIECE_SIZE` bytes of input, so a list holds the
        messages of at most that much NDJSON (plus a line that ended in it).
        """
        progress = self._advance if self._progress is not None else None
        for source in self.sources:
            one = self._source(source)
            self._current = one
            started = time.perf_counter()
            try:
                yield from one.batches(self.chunk_size, progress)
            except ReplayError as exc:
                if self.errors == "raise":
                    self._files.append(one.summary)
                    raise
                one.summary.error = str(exc)
                log.error("%s", exc)
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
        """
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise InvalidOptionError(f"jobs must be a positive int, got {jobs!r}")
        started = time.perf_counter()
        if jobs == 1 or sum(map(_is_path, self.sources)) < 2:
            for _ in self.batches():
                pass
            files = self._files
        else:
            files = self._run_parallel(jobs, start_method or _default_start_method())
        return ReplaySummary.merge(files, time.perf_counter() - started)

    @property
    def summary(self) -> ReplaySummary:
        """Totals of what has been replayed so far (complete once iteration ended)."""
        files = list(self._files)
        if self._current is not None:
            files.append(self._current.snapshot())
        return ReplaySummary.merge(files, self._elapsed)

    def _run_parallel(self, jobs: int, start_method: str) -> list[FileSummary]:
        """Spread the path sources over worker processes; read streams in a thread meanwhile."""
        import multiprocessing  # noqa: PLC0415 - only parallel runs pay for it

        ctx = multiprocessing.get_context(start_method)
        skip = self.errors == "skip"
        paths = [i for i, source in enumerate(self.sources) if _is_path(source)]
        sizes = {i: _size_or_zero(self.sources[i]) for i in paths}  # type: ignore[arg-type]
        # Largest first, so no worker is left alone with a big file at the end.
        tasks = [
            _Task(
                i,
                os.fspath(self.sources[i]),
                self.provider,
                self.max_line_size,
                self.max_pending,
                self.chunk_size,
                skip,
            )  # type: ignore[arg-type]
            for i in sorted(paths, key=lambda i: -sizes[i])
        ]
        counter = ctx.Value("q", 0) if self._progress is not None else None
        results: dict[int, FileSummary] = {}
        with _WorkerPool(ctx, min(jobs, len(tasks)), counter) as pool:
            streams = _StreamReader(self, [i for i in range(len(self.sources)) if i not in sizes], results, skip)
            streams.start()  # after the workers exist: a fork never copies this thread
            try:
                for index, summary in pool.run(tasks, lambda: self._report(counter, streams.bytes)):
                    results[index] = summary
            except BaseException:
                # Failing or interrupted: do not wait for a stream that may never end
                # (stdin); the thread is a daemon and stops with the process.
                streams.join(timeout=1.0)
                raise
            streams.join()
            streams.reraise()
            self._report(counter, streams.bytes)
        self._files = [results[i] for i in range(len(self.sources))]
        return self._files

    def _report(self, counter: Any, stream_bytes: int) -> None:
        if self._progress is not None:
            done = self._done_bytes + stream_bytes + (counter.value if counter is not None else 0)
            self._progress(done, self._total_bytes)


def _size_or_zero(path: Any) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the worker reports the real error


def _default_start_method() -> str:
    """``fork`` when it is safe (one thread, a platform that has it), else ``spawn``."""
    if hasattr(os, "fork") and threading.active_count() == 1:
        return "fork"
    return "spawn"


class _StreamReader(threading.Thread):
    """Reads the stream sources of a parallel replay in the parent (streams cannot cross processes)."""

    def __init__(self, owner: Replay, indexes: list[int], results: dict[int, FileSummary], skip: bool) -> None:
        super().__init__(name="sidecar-sync-replay-streams", daemon=True)
        self.owner = owner
        self.indexes = indexes
        self.results = results
        self.skip = skip
        self.bytes = 0  # written by this thread only; read for progress reports
        self.error: BaseException | None = None

    def _count(self, n: int) -> None:
        self.bytes += n

    def run(self) -> None:
        owner = self.owner
        try:
            for i in self.indexes:
                one = owner._source(owner.sources[i])
                self.results[i] = one.run(owner.chunk_size, self._count, self.skip)
        except BaseException as exc:  # re-raised in the caller's thread
            self.error = exc

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error


class _Task(NamedTuple):
    index: int
    path: str
    provider: Any
    max_line_size: int
    max_pending: int
    chunk_size: int
    skip_errors: bool


class _WorkerPool:
    """A few worker processes, one pipe each, handed one task at a time.

    Not :class:`multiprocessing.pool.Pool`: that one silently replaces a worker that
    dies (a crash, an OOM kill, a spawned child that cannot import the main module)
    and can wait for ever. Here a worker that dies mid-task is an error naming the
    file it was reading, and leaving the ``with`` terminates whatever still runs.
    """

    def __init__(self, ctx: Any, size: int, counter: Any) -> None:
        self.ctx = ctx
        self.size = size
        self.counter = counter
        self.workers: list[tuple[Any, Any]] = []  # (process, parent end of its pipe)

    def __enter__(self) -> _WorkerPool:
        for n in range(self.size):
            parent_end, child_end = self.ctx.Pipe()
            process = self.ctx.Process(
                target=_worker_main, args=(child_end, self.counter), name=f"sidecar-sync-replay-{n}", daemon=True
            )
            process.start()
            child_end.close()
            self.workers.append((process, parent_end))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process, conn in self.workers:
            if process.is_alive() and exc_info[0] is None:
                try:
                    conn.send(None)  # done: exit normally
                except OSError:
                    pass
        for process, conn in self.workers:
            process.join(timeout=5 if exc_info[0] is None else 0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            if process.is_alive():  # pragma: no cover - a worker ignoring SIGTERM
                process.kill()
                process.join(timeout=5)
            conn.close()

    def run(self, tasks: list[_Task], tick: Callable[[], None]) -> Iterator[tuple[int, FileSummary]]:
        """Yield ``(index, summary)`` per task as workers finish them; ``tick`` runs every 0.1 s."""
        from multiprocessing.connection import wait  # noqa: PLC0415

        queue = list(reversed(tasks))  # pop() takes the largest first
        busy: dict[Any, _Task] = {}  # pipe -> the task its worker is on
        by_conn = {conn: process for process, conn in self.workers}
        for _, conn in self.workers:
            if queue:
                task = queue.pop()
                conn.send(task)
                busy[conn] = task
        while busy:
            ready = wait(list(busy) + [by_conn[c].sentinel for c in busy], timeout=0.1)
            tick()
            for item in ready:
                conn = item if item in busy else next((c for c in busy if by_conn[c].sentinel == item), None)
                if conn is None or conn not in busy:
                    continue
                task = busy.pop(conn)
                try:
                    outcome, payload = conn.recv()
                except (EOFError, OSError):
                    process = by_conn[conn]
                    process.join(timeout=5)
                    raise ReplayError(
                        f"{task.path}: the replay worker process died (exit code {process.exitcode})",
                        source=task.path,
                    ) from None
                if outcome == "error":
                    raise payload
                yield task.index, payload
                if queue:
                    task = queue.pop()
                    conn.send(task)
                    busy[conn] = task


def _worker_main(conn: Any, counter: Any) -> None:
    """A worker process: replay the paths the parent sends until it sends ``None``."""
    # Ctrl-C reaches the whole process group: the parent handles it and ends the
    # workers; a worker dying on KeyboardInterrupt would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def progress(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        if task is None:
            return
        one = _SourceReplay(task.path, task.provider, task.max_line_size, task.max_pending)
        try:
            result: tuple[str, Any] = (
                "ok",
                one.run(task.chunk_size, progress if counter is not None else None, task.skip_errors),
            )
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            result = ("error", exc)
        try:
            conn.send(result)
        except Exception as exc:  # an exception that does not pickle
            conn.send(("error", ReplayError(f"{task.path}: {type(exc).__name__}: {result[1]!r}", source=task.path)))


def replay(
    sources: Source | Sequence[Source],
    *,
    provider: Any = None,
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
        max_pending: the most bytes a decoder holds between reads.
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
