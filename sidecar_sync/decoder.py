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
from typing import Any, Final, NamedTuple

import orjson

from .framer import FEED_WINDOW, MAX_LINE_SIZE, MAX_PENDING, Buffer, LineFramer

__all__ = ["EventDecoder", "DecoderStats", "INVALID_LOG_LIMIT"]

log = logging.getLogger(__name__)

#: Invalid lines logged at WARNING per decoder; later ones go to DEBUG.
INVALID_LOG_LIMIT: Final = 20

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
        framer: a ready framer to use instead of a new :data:`LineFramer`.

    Not thread-safe: a decoder belongs to one reader thread, like its framer.
    """

    __slots__ = ("label", "_framer", "_segments", "_events", "_invalid", "_last_invalid")

    def __init__(
        self,
        max_line_size: int = MAX_LINE_SIZE,
        max_pending: int = MAX_PENDING,
        *,
        label: str = "stream",
        framer: Any = None,
    ) -> None:
        self.label = label
        self._framer = framer if framer is not None else LineFramer(max_line_size, max_pending)
        self._segments = self._framer.feed_segments
        self._events = 0
        self._invalid = 0
        self._last_invalid: str | None = None

    def feed(self, data: Buffer) -> list[dict[str, Any]]:
        """Decode ``data``; return the JSON objects of every line it completes, in order."""
        if len(data) > FEED_WINDOW:
            view = memoryview(data)
            out: list[dict[str, Any]] = []
            for i in range(0, len(data), FEED_WINDOW):
                out += self.feed(bytes(view[i : i + FEED_WINDOW]))
            return out
        segments = self._segments(data)
        if len(segments) == 1:
            text, count = segments[0]
            if count:
                try:
                    events: list[dict[str, Any]] = _loads(text)
                except _JSONDecodeError:
                    pass
                else:
                    self._events += count
                    return events
        elif not segments:
            return []
        return self._decode(segments)

    def finish(self) -> list[dict[str, Any]]:
        """End of stream: decode the residual unterminated line, if any."""
        return self._decode(self._framer.finish_segments())

    def _decode(self, segments: list[Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for text, count in segments:
            if count:
                try:
                    batch = _loads(text)
                except _JSONDecodeError:
                    for line in bytes(text)[1:-1].split(b"\n,"):
                        self._decode_line(line, events)
                else:
                    events += batch
                    self._events += count
            else:
                self._decode_line(text, events)
        return events

    def _decode_line(self, line: Any, events: list[dict[str, Any]]) -> None:
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

    def _reject(self, line: Any, reason: str) -> None:
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
