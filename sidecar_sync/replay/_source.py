"""One source through the pipeline: its bytes in, its messages and its :class:`FileSummary` out.

Replay adds nothing to what a live session does with runner output: the source's
:class:`~sidecar_sync.pipeline.Pipeline` frames, parses, routes the protocol lines,
adapts and accounts, exactly as for a session's stdout. :class:`SourceReplay` reads
the bytes (:mod:`sidecar_sync.replay._sources`), feeds them in, counts the messages
that come out by type, and copies the pipeline's counters into the summary. Turn
signals change no status here (a replay has none); the pipeline counts their lines.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import NamedTuple

from ..adapters import new_stream_adapter
from ..errors import FramerError, InvalidOptionError, ReplayError
from ..framer import FEED_WINDOW, MAX_LINE_SIZE, MAX_PENDING
from ..messages import Adapter, AgentMessage
from ..pipeline import Output, PermissionSignal, Pipeline, TurnSignal
from ._sources import DEFAULT_CHUNK_SIZE, ByteCounter, Source, read_source, source_name
from ._summary import FileSummary, ordered_counts

__all__ = ["ReplayOptions", "SourceReplay", "check_options"]

log = logging.getLogger(__name__)

_get_type = attrgetter("type")


class ReplayOptions(NamedTuple):
    """How every source of one replay is read (a tuple, so it pickles for worker processes)."""

    provider: str | Adapter = "auto"
    """A provider name, ``"auto"``, or an adapter callable."""
    max_line_size: int = MAX_LINE_SIZE
    """Lines longer than this are dropped whole (counted)."""
    max_pending: int = MAX_PENDING
    """The most bytes a pipeline holds between reads."""
    chunk_size: int = DEFAULT_CHUNK_SIZE
    """Bytes per read."""
    skip_errors: bool = False
    """Record a :class:`ReplayError` in the source's summary instead of raising it."""


def check_options(options: ReplayOptions) -> None:
    """Fail before any source is opened when an option is bad.

    Raises:
        InvalidOptionError: a bad limit or chunk size.
        UnknownProviderError: the provider is not registered.
    """
    chunk_size = options.chunk_size
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or not 1 <= chunk_size <= FEED_WINDOW:
        raise InvalidOptionError(f"chunk_size must be an int between 1 and {FEED_WINDOW}, got {chunk_size!r}")
    # A pipeline checks its own limits and its adapter's provider: build one, so
    # a bad option fails before any file is opened, by the rules a session obeys.
    _new_pipeline(options, "options")


def _new_pipeline(options: ReplayOptions, label: str, tally: Counter[str] | None = None) -> Pipeline:
    try:
        return Pipeline(
            new_stream_adapter(options.provider),
            max_line_size=options.max_line_size,
            max_pending=options.max_pending,
            label=label,
            tally=tally,
        )
    except FramerError as exc:  # the limits are the caller's option here
        raise InvalidOptionError(str(exc)) from exc


class SourceReplay:
    """Replays one source: its bytes through a :class:`~sidecar_sync.pipeline.Pipeline`.

    Args:
        source: a path or a binary stream.
        options: the replay's options.
        summary_only: nobody reads the messages: the adapter may count them by
            type without building them (the summary is the same either way), and
            :meth:`batches` yields only the messages it did build.

    One per source: the pipeline and its stream adapter keep per-stream state
    (Codex token deltas, the ``auto`` provider decision, the agent session that
    costs belong to), so sources never leak into each other.
    """

    __slots__ = ("source", "name", "summary", "_options", "_pipeline", "_counts")

    def __init__(self, source: Source, options: ReplayOptions, *, summary_only: bool) -> None:
        self.source = source
        self.name = source_name(source)
        self.summary = FileSummary(self.name)
        self._options = options
        self._counts: Counter[str] = Counter()
        self._pipeline = _new_pipeline(options, self.name, self._counts if summary_only else None)

    def batches(self, progress: ByteCounter | None) -> Iterator[list[AgentMessage]]:
        """Yield the messages of the source, one list per pipeline batch (never empty).

        Args:
            progress: told the size of every raw chunk read.

        Raises:
            ReplayError: the source cannot be read to its end; the summary then
                covers what was read before.
        """
        receive = self._pipeline.receive_data
        try:
            for data in read_source(self.source, self.name, self._options.chunk_size, progress):
                yield from self._messages(receive(data))
            yield from self._messages(self._pipeline.receive_eof())
            stats = self._pipeline.stats
            if stats.events == 0 and (stats.lines or stats.oversized_lines):
                # Lines, and not one JSON object among them: not a transcript at all
                # (a binary file, a log, the wrong file picked up from a directory).
                lines = stats.lines + stats.oversized_lines
                raise ReplayError(f"{self.name}: no line parsed as a JSON object ({lines} lines)", source=self.name)
        finally:
            # Also on a read error or an abandoned iteration: the counts then
            # cover what was read.
            self._update()

    def _messages(self, outputs: Iterable[Output]) -> Iterator[list[AgentMessage]]:
        count = self._counts.update
        for item in outputs:
            if isinstance(item, (TurnSignal, PermissionSignal)):
                continue
            messages = item[0]
            count(map(_get_type, messages))
            yield messages

    def run(self, progress: ByteCounter | None) -> FileSummary:
        """Replay the whole source for its summary alone.

        With ``skip_errors`` a :class:`ReplayError` is logged and recorded in the
        summary's ``error`` instead of raised.
        """
        try:
            for _ in self.batches(progress):
                pass
        except ReplayError as exc:
            if not self._options.skip_errors:
                raise
            self.record_error(exc)
        return self.summary

    def record_error(self, exc: ReplayError) -> None:
        """Keep why the source could not be read to its end in the summary, and log it."""
        self.summary.error = str(exc)
        log.error("%s", exc)

    def snapshot(self) -> FileSummary:
        """A copy of the summary so far (complete once :meth:`batches` has ended)."""
        self._update()
        return self.summary.copy()

    def _update(self) -> None:
        """Bring the summary up to date with the pipeline's counters and the type counts."""
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
        summary.messages = stats.messages
        summary.by_type = ordered_counts(self._counts)
        summary.cost_usd = usage.cost_usd
        summary.cost_reported = usage.cost_reported
        summary.input_tokens = usage.input_tokens
        summary.output_tokens = usage.output_tokens
        summary.sessions = len(usage.sessions)
