"""The pure-Python line framer: the reference twin of the C framer (``_cframer``).

Plan: each window of input is split at ``\\n`` by ``bytes.split`` (one C-level pass);
the first part completes the carried partial line, the last part becomes the new one,
and the parts between are complete lines that only need their caps checked, their
whitespace stripped and blanks dropped, all with C-level passes over the list. Cost
per feed is O(len(data)) plus O(lines); the carried line grows by appending, so a long
line fed in many pieces is never re-scanned.
"""

from __future__ import annotations

import threading

from ._framing import (
    MAX_LINE_SIZE,
    MAX_PENDING,
    Buffer,
    FramerStats,
    Segment,
    busy,
    check_limits,
    segment_chunk,
    windows,
)
from .errors import FramerError

__all__ = ["PyLineFramer"]


class PyLineFramer:
    """Pure-Python line framer; the reference twin of the C framer.

    Args:
        max_line_size: the longest line kept, in bytes (raw, without its ``\\n``).
        max_pending: the most bytes held between feeds; at least ``max_line_size``.

    Raises:
        FramerError: a limit is not an int in range, or ``max_pending < max_line_size``.
    """

    __slots__ = (
        "_discarding",
        "_dropped",
        "_in",
        "_lines",
        "_lock",
        "_max_line_size",
        "_max_pending",
        "_oversized",
        "_pend",
    )

    def __init__(self, max_line_size: int = MAX_LINE_SIZE, max_pending: int = MAX_PENDING) -> None:
        check_limits(max_line_size, max_pending)
        self._max_line_size = max_line_size
        self._max_pending = max_pending
        self._pend = bytearray()
        self._discarding = False
        self._lines = 0
        self._oversized = 0
        self._dropped = 0
        self._in = 0
        self._lock = threading.Lock()

    @property
    def max_line_size(self) -> int:
        """The longest line kept, in bytes (raw, without its ``\\n``)."""
        return self._max_line_size

    @property
    def max_pending(self) -> int:
        """The most bytes held between feeds; at least :attr:`max_line_size`."""
        return self._max_pending

    def feed(self, data: Buffer) -> list[bytes]:
        """Frame ``data``; return every line it completes, in order.

        Raises:
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            FramerBusyError: another thread is using this framer right now.
        """
        pieces = windows(data)
        if not self._lock.acquire(blocking=False):
            raise busy()
        try:
            out: list[bytes] = []
            for piece in pieces:
                self._feed(piece, out)
            return out
        finally:
            self._lock.release()

    def _feed(self, data: bytes, out: list[bytes]) -> None:
        self._in += len(data)
        parts = data.split(b"\n")
        tail = parts.pop()  # after the last '\n': the start of the next line
        if parts:
            parts[0] = self._end_carried_line(parts[0])
            cap = self._max_line_size
            if len(data) > cap:  # only then can a line inside this chunk be over-long
                over = [len(part) for part in parts[1:] if len(part) > cap]
                if over:
                    self._oversized += len(over)
                    self._dropped += sum(over)
                    parts[1:] = [part for part in parts[1:] if len(part) <= cap]
            # bytes.strip() strips exactly the ASCII whitespace; filter drops blank lines
            lines = list(filter(None, map(bytes.strip, parts)))
            self._lines += len(lines)
            out += lines
        self._carry(tail)

    def _end_carried_line(self, first: bytes) -> bytes:
        """The line that ``first`` (the text before a chunk's first '\\n') completes, or b"" if dropped."""
        size = len(self._pend) + len(first)
        if self._discarding:
            self._discarding = False
            self._oversized += 1
            self._dropped += len(first)
            return b""
        if size > self._max_line_size:
            self._oversized += 1
            self._dropped += size
            self._pend.clear()
            return b""
        if self._pend:
            self._pend += first
            first = bytes(self._pend)
            self._pend.clear()
        return first

    def _carry(self, tail: bytes) -> None:
        """Keep the text after a chunk's last '\\n' as the partial line, within the cap."""
        if self._discarding:
            self._dropped += len(tail)
        elif len(self._pend) + len(tail) > self._max_line_size:
            self._dropped += len(self._pend) + len(tail)
            self._pend.clear()
            self._discarding = True
        else:
            self._pend += tail

    def finish(self) -> list[bytes]:
        """End of stream: return the residual partial line (if any) as a line.

        The framer stays usable: a later :meth:`feed` starts a new stream (the
        counters keep counting).

        Raises:
            FramerBusyError: another thread is using this framer right now.
        """
        if not self._lock.acquire(blocking=False):
            raise busy()
        try:
            if self._discarding:
                self._discarding = False
                self._oversized += 1
                return []
            line = bytes(self._pend).strip()
            self._pend.clear()
            if not line:
                return []
            self._lines += 1
            return [line]
        finally:
            self._lock.release()

    def feed_segments(self, data: Buffer) -> list[Segment]:
        """Batch form of :meth:`feed`; this twin returns every line as a single segment.

        Raises:
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            FramerError: ``data`` is longer than :data:`~sidecar_sync.framer.FEED_WINDOW`.
            FramerBusyError: another thread is using this framer right now.
        """
        return [(line, 0) for line in self.feed(segment_chunk(data))]

    def feed_views(self, data: Buffer, batch_size: int = 0) -> list[Segment]:
        """:meth:`feed_segments` (this twin makes no arrays, so ``batch_size`` changes nothing).

        Raises:
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            FramerError: ``data`` is longer than :data:`~sidecar_sync.framer.FEED_WINDOW`,
                or ``batch_size`` is negative.
            FramerBusyError: another thread is using this framer right now.
        """
        if batch_size < 0:
            raise FramerError(f"batch_size must be an int >= 0, got {batch_size!r}")
        return self.feed_segments(data)

    def finish_segments(self) -> list[Segment]:
        """Batch form of :meth:`finish`."""
        return [(line, 0) for line in self.finish()]

    @property
    def stats(self) -> FramerStats:
        """A snapshot of the framer's counters; any thread may read it at any time.

        It never raises :class:`~sidecar_sync.errors.FramerBusyError` and never makes a
        feed in another thread fail; read during a feed, it may count part of that feed.
        """
        return FramerStats(self._lines, self._oversized, self._dropped, len(self._pend), self._in)
