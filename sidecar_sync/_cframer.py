"""The C line framer: a thin wrapper around ``csrc/ndjson_framer.c`` (compiled by cffi).

Importing this module imports the compiled ``sidecar_sync._framer`` and so raises
ImportError when the C framer was not built; :mod:`sidecar_sync.framer` decides what
to do about that.

Goals: one C call per chunk, never one per line or per byte; one copy out of C per
call, never one per line; the same lines and counters as the Python twin
(:mod:`sidecar_sync._pyframer`) for any input and any chunking.

Plan: a framer owns its C state (freed with ``ffi.gc``) and one result struct per
output form, allocated once and filled by every C call. A chunk of the lines form
usually comes back as "the chunk's own ``\\n`` parts", which ``bytes.split`` turns
into the line objects in one C-level pass; only lines that needed cleaning, and a
line completed across chunks, are copied out of C, in one ``ffi.unpack`` each per
call. The segments form copies the JSON arrays out in one ``ffi.unpack`` per call and
points into the chunk (``memoryview`` slices) for any other line.

Warnings: results in the C structs point into C buffers that the next call reuses,
so everything handed back is copied or refers to the caller's chunk, never to C
memory. cffi releases the GIL around each C call, so nothing but the framer's locks
keeps two threads out of one C framer: every feed takes the busy guard without
blocking and raises :class:`~sidecar_sync.errors.FramerBusyError` when it is held; a
second lock, held only around each C call, lets ``stats`` be read from any thread
without racing C and without ever failing a feed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final

from ._framer import ffi, lib
from ._framing import (
    FEED_WINDOW,
    MAX_LINE_SIZE,
    MAX_PENDING,
    Buffer,
    FramerStats,
    Segment,
    busy,
    byte_view,
    check_limits,
    segment_chunk,
    windows,
)
from .errors import FramerError

if TYPE_CHECKING:
    from ._framer import _CData, _FramerPtr, _LinesPtr, _SegmentsPtr

__all__ = ["BATCH_MAX_LINE", "CLineFramer"]

#: Lines longer than this many bytes are never batched into a JSON array (C's limit).
BATCH_MAX_LINE: Final = lib.NDJSON_BATCH_MAX_LINE

_ENOMEM: Final = lib.NDJSON_ENOMEM
_PARTS_ALL: Final = lib.NDJSON_PARTS_ALL
_PARTS_REST: Final = lib.NDJSON_PARTS_REST
_SEG_ARRAY: Final = lib.NDJSON_SEG_ARRAY
_SEG_DATA: Final = lib.NDJSON_SEG_DATA

# Bound once: attribute lookups on ``lib`` and ``ffi`` are not free, and the hot path
# makes one C call per chunk.
_feed_lines = lib.ndjson_feed_lines
_feed_segments = lib.ndjson_feed_segments
_finish = lib.ndjson_finish
_unpack = ffi.unpack
_cast = ffi.cast
_buffer = ffi.buffer
_from_buffer = ffi.from_buffer
_U64_PTR = ffi.typeof("uint64_t *")
_EMPTY: Final = memoryview(b"")


def _error(rc: int, call: str) -> Exception:
    """The exception for a C status code other than NDJSON_OK."""
    if rc == _ENOMEM:
        return MemoryError(f"{call}: the NDJSON framer could not allocate its buffers")
    # NDJSON_EINVAL: the wrapper validates every argument first, so this is a bug here.
    return FramerError(f"{call} refused its arguments (status {rc})")


def _lines(f: _FramerPtr, r: _LinesPtr, data: bytes) -> list[bytes]:
    """One window through the lines form; the caller holds the framer's lock."""
    rc = _feed_lines(f, data, len(data), r)
    if rc:
        raise _error(rc, "ndjson_feed_lines")
    parts = r.parts
    if parts == _PARTS_ALL:  # every line is one of the chunk's own parts
        lines = data.split(b"\n")
        lines.pop()  # the text after the last '\n'
        return lines
    if parts == _PARTS_REST:  # the same, but the first line is not part 0 as it stands
        lines = data.split(b"\n")
        lines.pop()
        n = r.first_len
        if n:
            lines[0] = _unpack(r.first, n)
        else:
            del lines[0]
        return lines
    n = r.first_len
    lines = [_unpack(r.first, n)] if n else []
    n = r.out_len
    if n:
        lines += _unpack(r.out, n).split(b"\n")
    return lines


def _segments(f: _FramerPtr, r: _SegmentsPtr, data: bytes) -> list[Segment]:
    """One window through the segments form; the caller holds the framer's lock."""
    rc = _feed_segments(f, data, len(data), r)
    if rc:
        raise _error(rc, "ndjson_feed_segments")
    n = r.nsegs
    if not n:
        return []
    # One row of (kind, offset, length, count) per segment, in one call.
    fields = _unpack(_cast(_U64_PTR, r.segs), 4 * n)
    size = r.out_len
    out = _unpack(r.out, size) if size else b""
    if n == 1 and fields[0] == _SEG_ARRAY:
        return [(out, fields[3])]  # the common case: the whole chunk is one array
    size = r.head_len
    head = _unpack(r.head, size) if size else b""
    segments: list[Segment] = []
    for i in range(0, 4 * n, 4):
        kind, offset, length, count = fields[i : i + 4]
        if kind == _SEG_ARRAY:
            base = out
        else:
            base = data if kind == _SEG_DATA else head
            count = 0
        if offset == 0 and length == len(base):
            segments.append((base, count))
        else:
            segments.append((memoryview(base)[offset : offset + length], count))
    return segments


def _views(f: _FramerPtr, r: _SegmentsPtr, data: bytes | memoryview, ptr: bytes | _CData) -> list[Segment]:
    """:func:`_segments` without copies: views of C's buffers and of ``data``; the caller holds the lock."""
    rc = _feed_segments(f, ptr, len(data), r)
    if rc:
        raise _error(rc, "ndjson_feed_segments")
    n = r.nsegs
    if not n:
        return []
    fields = _unpack(_cast(_U64_PTR, r.segs), 4 * n)
    size = r.out_len
    out = memoryview(_buffer(r.out, size)) if size else _EMPTY
    if n == 1 and fields[0] == _SEG_ARRAY:
        return [(out, fields[3])]
    size = r.head_len
    head = memoryview(_buffer(r.head, size)) if size else _EMPTY
    view = memoryview(data)
    segments: list[Segment] = []
    for i in range(0, 4 * n, 4):
        kind, offset, length, count = fields[i : i + 4]
        if kind == _SEG_ARRAY:
            segments.append((out[offset : offset + length], count))
        else:
            base = view if kind == _SEG_DATA else head
            segments.append((base[offset : offset + length], 0))
    return segments


class CLineFramer:
    """Line framer backed by the C implementation in ``csrc/ndjson_framer.c``.

    Args:
        max_line_size: the longest line kept, in bytes (raw, without its ``\\n``).
        max_pending: the most bytes held between feeds; at least ``max_line_size``.
            The C framer never holds more than ``max_line_size`` bytes between feeds,
            so this is checked here and not passed to C.

    Raises:
        FramerError: a limit is not an int in range, or ``max_pending < max_line_size``.
        MemoryError: the C framer could not be allocated.
    """

    __slots__ = (
        "_counters",
        "_counting",
        "_f",
        "_lines_out",
        "_lock",
        "_max_line_size",
        "_max_pending",
        "_segments_out",
        "_batch_size",
    )

    def __init__(self, max_line_size: int = MAX_LINE_SIZE, max_pending: int = MAX_PENDING) -> None:
        check_limits(max_line_size, max_pending)
        box = ffi.new("ndjson_framer **")
        rc = lib.ndjson_framer_new(box, max_line_size)
        if rc:
            raise _error(rc, "ndjson_framer_new")
        self._f = ffi.gc(box[0], lib.ndjson_framer_free)
        self._lines_out = ffi.new("ndjson_lines *")
        self._segments_out = ffi.new("ndjson_segments *")
        self._counters = ffi.new("ndjson_counters *")
        self._max_line_size = max_line_size
        self._max_pending = max_pending
        self._batch_size = 0  # no limit, as C starts
        # The busy guard: held for a whole feed, taken without blocking.
        self._lock = threading.Lock()
        # Held around each C call that updates the counters, and by `stats` while C reads
        # them: a reader in another thread waits one C call at most, never fails a feed.
        self._counting = threading.Lock()

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
            MemoryError: the C framer could not grow its buffers; discard the framer.
        """
        if type(data) is not bytes or len(data) > FEED_WINDOW:
            return self._feed_windows(data)
        lock, counting = self._lock, self._counting
        if not lock.acquire(False):
            raise busy()
        counting.acquire()  # one try for both locks: this is the hot path
        try:
            return _lines(self._f, self._lines_out, data)
        finally:
            counting.release()
            lock.release()

    def _feed_windows(self, data: Buffer) -> list[bytes]:
        pieces = windows(data)
        if not self._lock.acquire(False):
            raise busy()
        try:
            f, r, counting = self._f, self._lines_out, self._counting
            out: list[bytes] = []
            for piece in pieces:
                with counting:
                    out += _lines(f, r, piece)
            return out
        finally:
            self._lock.release()

    def finish(self) -> list[bytes]:
        """End of stream: return the residual partial line (if any) as a line.

        The framer stays usable: a later :meth:`feed` starts a new stream (the
        counters keep counting).

        Raises:
            FramerBusyError: another thread is using this framer right now.
        """
        if not self._lock.acquire(False):
            raise busy()
        try:
            r = self._lines_out
            with self._counting:
                rc = _finish(self._f, r)
            if rc:
                raise _error(rc, "ndjson_finish")
            n = r.first_len
            return [_unpack(r.first, n)] if n else []
        finally:
            self._lock.release()

    def feed_segments(self, data: Buffer) -> list[Segment]:
        """Frame ``data`` into segments for batched JSON parsing (see :data:`Segment`).

        Runs of object lines come back as one JSON array each, so a chunk of small
        events parses with one ``orjson.loads``. Segments are bytes or views of
        bytes that this call owns (or of ``data``), so they stay valid after later calls.

        Raises:
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            FramerError: ``data`` is longer than :data:`~sidecar_sync.framer.FEED_WINDOW`.
            FramerBusyError: another thread is using this framer right now.
            MemoryError: the C framer could not grow its buffers; discard the framer.
        """
        if type(data) is not bytes or len(data) > FEED_WINDOW:
            data = segment_chunk(data)
        lock, counting = self._lock, self._counting
        if not lock.acquire(False):
            raise busy()
        counting.acquire()  # one try for both locks: this is the hot path
        try:
            return _segments(self._f, self._segments_out, data)
        finally:
            counting.release()
            lock.release()

    def feed_views(self, data: Buffer, batch_size: int = 0) -> list[Segment]:
        """:meth:`feed_segments` without copying: the segments are views, valid only until
        the next call on this framer (and while ``data`` stays unchanged).

        The arrays are views of the framer's own buffer, the other lines views of
        ``data`` or of that buffer; ``data`` itself is read in place when it is a flat
        buffer (a ``bytearray`` a reader fills again and again, a view of one). With
        ``batch_size`` > 0 no array is longer than that many bytes, unless one line alone
        is, so that a big feed comes back as arrays of about that size.

        Raises:
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            FramerError: ``data`` is longer than :data:`~sidecar_sync.framer.FEED_WINDOW`.
            FramerBusyError: another thread is using this framer right now.
            MemoryError: the C framer could not grow its buffers; discard the framer.
        """
        if type(data) is bytes:
            ptr: bytes | _CData = data
        else:
            data = byte_view(data)
            ptr = _from_buffer(data)
        if len(data) > FEED_WINDOW:
            data = segment_chunk(data)  # raises
        lock, counting = self._lock, self._counting
        if not lock.acquire(False):
            raise busy()
        counting.acquire()  # one try for both locks: this is the hot path
        try:
            if batch_size != self._batch_size:
                if batch_size < 0 or lib.ndjson_set_batch_size(self._f, batch_size):
                    raise FramerError(f"batch_size must be an int >= 0, got {batch_size!r}")
                self._batch_size = batch_size
            return _views(self._f, self._segments_out, data, ptr)
        finally:
            counting.release()
            lock.release()

    def finish_segments(self) -> list[Segment]:
        """Batch form of :meth:`finish`."""
        return [(line, 0) for line in self.finish()]

    @property
    def stats(self) -> FramerStats:
        """A snapshot of the framer's counters; any thread may read it at any time.

        It never raises :class:`~sidecar_sync.errors.FramerBusyError` and never makes a
        feed in another thread fail: it waits for the C call in progress (one window at
        most), so C never reads the counters while they change.
        """
        with self._counting:
            c = self._counters
            rc = lib.ndjson_stats(self._f, c)
            if rc:
                raise _error(rc, "ndjson_stats")
            return FramerStats(c.lines, c.oversized_lines, c.dropped_bytes, c.pending, c.bytes_in)
