"""NDJSON decoding: raw bytes in, JSON objects (dicts) out.

This is the first half of every hot path (a session's stdout reader, replay): the
framer cuts lines under its caps, orjson parses them, and anything that is not a
JSON object is counted as invalid, logged and skipped, never raised.

With the C framer, runs of object lines arrive as one JSON array per chunk, so a
chunk of small events costs one ``orjson.loads`` call instead of one per line. The
framer only batches lines that are exactly one object as far as brackets and
strings go, so a valid batch maps one-to-one onto its lines; a batch that fails to
parse is split back into its lines and each is parsed alone, so one bad line never
costs the good ones around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Final, NamedTuple

import orjson

from ._framing import byte_view
from .framer import FEED_WINDOW, MAX_LINE_SIZE, MAX_PENDING, Buffer, Framer, LineFramer, Segment

__all__ = ["INVALID_LOG_LIMIT", "DecoderStats", "Event", "EventDecoder"]

log = logging.getLogger(__name__)

#: Invalid lines logged at WARNING per decoder; later ones go to DEBUG.
INVALID_LOG_LIMIT: Final = 20

#: One decoded line: a JSON object. Its values are whatever the JSON holds, so they
#: stay ``Any`` for the adapters that read them.
Event = dict[str, Any]

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class DecoderStats(NamedTuple):
    """Counters of one decoder since it was created."""

    lines: int
    """Complete non-blank lines framed."""
    events: int
    """JSON objects returned."""
    invalid_lines: int
    """Lines that were not JSON, not UTF-8, or JSON but not an object."""
    oversized_lines: int
    """Lines dropped whole by the framer for exceeding the line cap."""
    dropped_bytes: int
    """Raw bytes of those lines."""
    pending: int
    """Bytes of the partial line held by the framer."""


class EventDecoder:
    """Turns a byte stream of NDJSON into dicts, one decoder per stream.

    Args:
        max_line_size: drop lines longer than this many bytes (see the framer).
        max_pending: the most bytes held between feeds.
        label: names the stream in log messages (a session id, a file name).
        framer: a ready framer to use instead of a new :data:`~sidecar_sync.framer.LineFramer`
            (its own limits then apply; ``max_line_size`` and ``max_pending`` are ignored).

    Raises:
        FramerError: the limits are out of range (see the framer).

    Not thread-safe: a decoder belongs to one reader thread, like its framer.
    """

    __slots__ = ("_events", "_framer", "_invalid", "_last_invalid", "_segments", "_views", "label")

    def __init__(
        self,
        max_line_size: int = MAX_LINE_SIZE,
        max_pending: int = MAX_PENDING,
        *,
        label: str = "stream",
        framer: Framer | None = None,
    ) -> None:
        self.label = label
        self._framer: Framer = framer if framer is not None else LineFramer(max_line_size, max_pending)
        # Bound once: the hot path calls it once per chunk.
        self._segments: Callable[[Buffer], list[Segment]] = self._framer.feed_segments
        self._views: Callable[[Buffer, int], list[Segment]] = self._framer.feed_views
        self._events = 0
        self._invalid = 0
        self._last_invalid: str | None = None

    def feed(self, data: Buffer) -> list[Event]:
        """Decode ``data``; return the JSON objects of every line it completes, in order.

        Raises:
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            FramerBusyError: another thread is using this decoder's framer right now.
        """
        if len(data) > FEED_WINDOW:
            return self._feed_windows(data)
        segments = self._segments(data)
        if len(segments) == 1:
            text, count = segments[0]
            if count:  # the common case: the whole chunk is one JSON array of objects
                try:
                    events: list[Event] = _loads(text)
                except _JSONDecodeError:
                    pass
                else:
                    self._events += count
                    return events
        elif not segments:
            return []
        return self._decode(segments)

    def feed_pieces(self, data: Buffer, piece_size: int) -> Iterator[tuple[list[Event], int]]:
        """Decode ``data`` a piece at a time: yield ``(events, nbytes)`` for each run of
        complete lines of about ``piece_size`` bytes, ``nbytes`` being those lines' bytes.

        The framer is called once per :data:`~sidecar_sync.framer.FEED_WINDOW` and its
        arrays are parsed in place, where they lie, one piece per ``next()``: a piece's
        objects are made just before the caller uses them. ``data`` may be a view of a
        buffer the caller fills again once this iterator is exhausted; the iterator is
        spent by the next call on this decoder (do not resume it then).

        Raises:
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            FramerBusyError: another thread is using this decoder's framer right now.
        """
        if len(data) <= FEED_WINDOW:
            yield from self._pieces(data, piece_size)
            return
        view = byte_view(data)
        for start in range(0, len(view), FEED_WINDOW):
            yield from self._pieces(view[start : start + FEED_WINDOW], piece_size)

    def _pieces(self, data: Buffer, piece_size: int) -> Iterator[tuple[list[Event], int]]:
        events: list[Event] = []
        nbytes = 0
        for text, count in self._views(data, piece_size):
            if count:  # an array of at most piece_size bytes: a piece of its own
                try:
                    batch: list[Event] = _loads(text)
                except _JSONDecodeError:
                    self._split(text, events)
                else:
                    self._events += count
                    if events:
                        events += batch
                    else:
                        events = batch
                yield events, nbytes + len(text) - count  # the lines and their newlines
                events = []
                nbytes = 0
                continue
            self._decode_line(text, events)
            nbytes += len(text) + 1
            if nbytes >= piece_size:
                yield events, nbytes
                events = []
                nbytes = 0
        if events or nbytes:
            yield events, nbytes

    def _feed_windows(self, data: Buffer) -> list[Event]:
        """Decode a feed larger than the framer's batch window, one window at a time."""
        view = memoryview(data)
        events: list[Event] = []
        for start in range(0, len(view), FEED_WINDOW):
            events += self.feed(view[start : start + FEED_WINDOW].tobytes())
        return events

    def finish(self) -> list[Event]:
        """End of stream: decode the residual unterminated line, if any."""
        return self._decode(self._framer.finish_segments())

    def _decode(self, segments: list[Segment]) -> list[Event]:
        """The events of a list of segments: arrays in one parse each, other lines alone."""
        events: list[Event] = []
        for text, count in segments:
            if count:
                try:
                    batch: list[Event] = _loads(text)
                except _JSONDecodeError:
                    self._split(text, events)
                else:
                    events += batch
                    self._events += count
            else:
                self._decode_line(text, events)
        return events

    def _split(self, text: bytes | memoryview, events: list[Event]) -> None:
        """An array that failed to parse: judge each of its lines alone."""
        # A '\n' never occurs inside a line, so "\n," splits the array back into
        # exactly its lines.
        for line in bytes(text)[1:-1].split(b"\n,"):
            self._decode_line(line, events)

    def _decode_line(self, line: bytes | memoryview, events: list[Event]) -> None:
        try:
            value = _loads(line)
        except _JSONDecodeError as exc:
            self._reject(line, f"not valid JSON or UTF-8: {exc}")
            return
        if type(value) is dict:
            events.append(value)
            self._events += 1
        else:
            self._reject(line, f"JSON {type(value).__name__} where an object was expected")

    def _reject(self, line: bytes | memoryview, reason: str) -> None:
        self._invalid += 1
        self._last_invalid = reason
        preview = bytes(line[:120])
        level = logging.WARNING if self._invalid <= INVALID_LOG_LIMIT else logging.DEBUG
        log.log(level, "%s: skipped invalid line %d (%s): %r", self.label, self._invalid, reason, preview)
        if self._invalid == INVALID_LOG_LIMIT:
            log.warning("%s: %d invalid lines; logging further ones at DEBUG only", self.label, self._invalid)

    @property
    def invalid_lines(self) -> int:
        """Lines skipped because they were not a JSON object."""
        return self._invalid

    @property
    def last_invalid_reason(self) -> str | None:
        """Why the most recent invalid line was rejected, for error reports."""
        return self._last_invalid

    @property
    def stats(self) -> DecoderStats:
        """A snapshot of the decoder's and its framer's counters."""
        fs = self._framer.stats
        return DecoderStats(fs.lines, self._events, self._invalid, fs.oversized_lines, fs.dropped_bytes, fs.pending)
