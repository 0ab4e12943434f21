"""NDJSON line framing: raw stdout bytes in, complete lines out, with hard memory caps.

Two twins with identical behaviour:

* :class:`CLineFramer` wraps the C framer in ``csrc/`` (compiled by cffi into
  ``sidecar_sync._framer``): one C call per chunk, never one per line or per byte.
* :class:`PyLineFramer` is the pure-Python reference.

:data:`LineFramer` names the one in use and :data:`BACKEND` says which (``"c"`` or
``"python"``). The environment variable ``SIDECAR_SYNC_FRAMER`` picks explicitly:
``c`` (fail with ImportError if the C build is missing), ``python``, or ``auto``
(the default: C if it was built, else Python with a logged warning, so a user who
installed without a compiler still gets a working library).

Rules shared by both twins:

* a line ends at ``\\n``; surrounding ASCII whitespace (``\\r`` included) is trimmed;
  blank lines are skipped;
* a line longer than ``max_line_size`` bytes (raw, without its ``\\n``) is dropped
  whole, and framing resumes after its ``\\n``;
* the partial line carried between feeds never exceeds ``max_line_size``, which must
  not exceed ``max_pending``; a feed larger than :data:`FEED_WINDOW` is framed in
  windows, so the scratch memory of a framer stays bounded too.

Both twins also have a batch form for :mod:`sidecar_sync.decoder`, ``feed_segments``:
the C framer returns each run of lines that are one JSON object apiece as a single
JSON array (one ``orjson.loads`` per chunk instead of one per line); the Python twin
returns every line alone.

A framer belongs to one reader thread: feeding one framer from two threads at
once raises :class:`~sidecar_sync.errors.FramerBusyError`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from typing import Final, NamedTuple

from .errors import FramerBusyError, FramerError

__all__ = [
    "MAX_LINE_SIZE",
    "MAX_PENDING",
    "FEED_WINDOW",
    "BACKEND",
    "FramerStats",
    "Segment",
    "LineFramer",
    "PyLineFramer",
    "CLineFramer",
]

log = logging.getLogger(__name__)

#: Default cap on one line, in bytes (10 MiB).
MAX_LINE_SIZE: Final = 10 * 2**20
#: Default cap on the bytes a framer holds between feeds (50 MiB).
MAX_PENDING: Final = 50 * 2**20
#: Feeds larger than this many bytes are framed in windows of this size.
FEED_WINDOW: Final = 8 * 2**20

Buffer = bytes | bytearray | memoryview

#: One unit of :meth:`feed_segments` output: ``(text, count)``. With ``count > 0``
#: ``text`` is a JSON array of ``count`` lines, each a single JSON object as far as
#: brackets and strings go, separated by ``"\\n,"``; with ``count == 0`` it is one raw line.
Segment = tuple[bytes | memoryview, int]


class FramerStats(NamedTuple):
    """Counters of one framer since it was created."""

    lines: int
    """Lines returned."""
    oversized_lines: int
    """Lines dropped whole for exceeding ``max_line_size``."""
    dropped_bytes: int
    """Raw bytes of those lines (without their ``\\n``)."""
    pending: int
    """Bytes of the partial line held right now."""
    bytes_in: int
    """Bytes fed."""


def _check_limits(max_line_size: int, max_pending: int) -> None:
    for name, value in (("max_line_size", max_line_size), ("max_pending", max_pending)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= sys.maxsize:
            raise FramerError(f"{name} must be an int in [1, {sys.maxsize}], got {value!r}")
    if max_pending < max_line_size:
        raise FramerError(
            f"max_pending ({max_pending}) must be >= max_line_size ({max_line_size}): "
            "a line is held whole until its newline arrives"
        )


def _byte_view(data: Buffer) -> memoryview:
    """A flat view of ``data`` as bytes, without copying it when it is already flat."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a framer takes bytes, bytearray or memoryview, not {type(data).__name__}")
    view = memoryview(data)
    if view.ndim != 1 or view.itemsize != 1 or not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view


def _windows(data: Buffer) -> Iterator[bytes]:
    """Yield ``data`` as bytes in pieces of at most :data:`FEED_WINDOW` bytes.

    Pieces are copied one at a time, so a huge feed costs one window of scratch
    memory, not a second copy of the whole input.
    """
    if type(data) is bytes and len(data) <= FEED_WINDOW:
        yield data
        return
    view = _byte_view(data)
    if len(view) <= FEED_WINDOW:
        yield view.tobytes()
        return
    for start in range(0, len(view), FEED_WINDOW):
        yield view[start : start + FEED_WINDOW].tobytes()


def _check_segment_feed(data: Buffer) -> bytes:
    """The bytes of a :meth:`feed_segments` chunk, which must fit in one window."""
    if type(data) is not bytes:
        data = _byte_view(data).tobytes()
    if len(data) > FEED_WINDOW:
        raise FramerError(f"feed_segments() takes at most {FEED_WINDOW} bytes per call, got {len(data)}")
    return data


def _busy() -> FramerBusyError:
    return FramerBusyError("a framer was fed from two threads at once; it belongs to one reader thread")


class PyLineFramer:
    """Pure-Python line framer; the reference twin of the C framer.

    Args:
        max_line_size: the longest line kept, in bytes (raw, without its ``\\n``).
        max_pending: the most bytes held between feeds; at least ``max_line_size``.

    Raises:
        FramerError: a limit is not an int in range, or ``max_pending < max_line_size``.
    """

    __slots__ = ("max_line_size", "max_pending", "_pend", "_discarding", "_lines", "_oversized", "_dropped", "_in", "_lock")

    def __init__(self, max_line_size: int = MAX_LINE_SIZE, max_pending: int = MAX_PENDING) -> None:
        _check_limits(max_line_size, max_pending)
        self.max_line_size = max_line_size
        self.max_pending = max_pending
        self._pend = bytearray()
        self._discarding = False
        self._lines = 0
        self._oversized = 0
        self._dropped = 0
        self._in = 0
        self._lock = threading.Lock()

    def feed(self, data: Buffer) -> list[bytes]:
        """Frame ``data``; return every line it completes, in order.

        Raises:
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            FramerBusyError: another thread is using this framer right now.
        """
        windows = _windows(data)
        if not self._lock.acquire(blocking=False):
            raise _busy()
        try:
            out: list[bytes] = []
            for window in windows:
                self._feed(window, out)
            return out
        finally:
            self._lock.release()

    def _feed(self, data: bytes, out: list[bytes]) -> None:
        self._in += len(data)
        parts = data.split(b"\n")
        tail = parts.pop()  # after the last '\n': the start of the next line
        if parts:
            parts[0] = self._end_carried_line(parts[0])
            cap = self.max_line_size
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
        if size > self.max_line_size:
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
        elif len(self._pend) + len(tail) > self.max_line_size:
            self._dropped += len(self._pend) + len(tail)
            self._pend.clear()
            self._discarding = True
        else:
            self._pend += tail

    def finish(self) -> list[bytes]:
        """End of stream: return the residual partial line (if any) as a line.

        The framer stays usable: a later :meth:`feed` starts a new stream (the
        counters keep counting).
        """
        if not self._lock.acquire(blocking=False):
            raise _busy()
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
        """Batch form of :meth:`feed`; the Python twin returns every line as a single segment.

        Raises:
            FramerError: ``data`` is longer than :data:`FEED_WINDOW`.
        """
        return [(line, 0) for line in self.feed(_check_segment_feed(data))]

    def finish_segments(self) -> list[Segment]:
        """Batch form of :meth:`finish`."""
        return [(line, 0) for line in self.finish()]

    @property
    def stats(self) -> FramerStats:
        """A snapshot of the framer's counters."""
        return FramerStats(self._lines, self._oversized, self._dropped, len(self._pend), self._in)


def _load_c_backend() -> type:
    """Import the compiled framer and define :class:`CLineFramer` around it."""
    from ._framer import ffi, lib  # noqa: PLC0415 - the import is the point

    head_keep, head_buffer = lib.NDJSON_HEAD_KEEP, lib.NDJSON_HEAD_BUFFER
    body_clean = lib.NDJSON_BODY_CLEAN
    seg_array, seg_data = lib.NDJSON_SEG_ARRAY, lib.NDJSON_SEG_DATA
    feed_lines, feed_segs, finish = lib.ndjson_feed_lines, lib.ndjson_feed_segments, lib.ndjson_finish
    unpack, cast = ffi.unpack, ffi.cast
    u64_array = ffi.typeof("uint64_t *")

    def check(rc: int) -> None:
        if rc < 0:
            raise MemoryError("the NDJSON framer could not allocate its buffers")

    def frame(f: object, data: bytes) -> list[bytes]:
        """One window through the C framer, lines form; the caller holds the framer's lock."""
        state = feed_lines(f, data, len(data))
        if state <= 0:
            check(state)
            return []  # no '\n' in the chunk
        if state & body_clean:
            # Every line after the first '\n' is clean: the chunk's own split
            # builds them in one C pass; only its first and last parts change.
            lines = data.split(b"\n")
            lines.pop()
            head = state ^ body_clean
            if head == head_buffer:
                lines[0] = unpack(f.head, f.head_len)  # type: ignore[attr-defined]
            elif head != head_keep:
                del lines[0]
            return lines
        lines = unpack(f.out, f.out_len).split(b"\n") if f.out_len else []  # type: ignore[attr-defined]
        if state == head_keep:
            lines.insert(0, data[: data.index(b"\n")])
        elif state == head_buffer:
            lines.insert(0, unpack(f.head, f.head_len))  # type: ignore[attr-defined]
        return lines

    class CLineFramer:
        """Line framer backed by the C implementation in ``csrc/ndjson_framer.c``.

        Args:
            max_line_size: the longest line kept, in bytes (raw, without its ``\\n``).
            max_pending: the most bytes held between feeds; at least ``max_line_size``.

        Raises:
            FramerError: a limit is not an int in range, or ``max_pending < max_line_size``.
        """

        __slots__ = ("max_line_size", "max_pending", "_f", "_lock")

        def __init__(self, max_line_size: int = MAX_LINE_SIZE, max_pending: int = MAX_PENDING) -> None:
            _check_limits(max_line_size, max_pending)
            ptr = lib.ndjson_framer_new(max_line_size, max_pending)
            if ptr == ffi.NULL:
                raise MemoryError("could not allocate an NDJSON framer")
            self.max_line_size = max_line_size
            self.max_pending = max_pending
            self._f = ffi.gc(ptr, lib.ndjson_framer_free)
            self._lock = threading.Lock()

        def _enter(self) -> None:
            if not self._lock.acquire(blocking=False):
                raise _busy()

        def feed(self, data: Buffer) -> list[bytes]:
            """Frame ``data``; return every line it completes, in order.

            Raises:
                TypeError: ``data`` is not bytes, bytearray or memoryview.
                FramerBusyError: another thread is using this framer right now.
            """
            if type(data) is not bytes or len(data) > FEED_WINDOW:
                return self._feed_windows(data)
            if not self._lock.acquire(False):
                raise _busy()
            try:
                return frame(self._f, data)
            finally:
                self._lock.release()

        def _feed_windows(self, data: Buffer) -> list[bytes]:
            windows = _windows(data)
            self._enter()
            try:
                out: list[bytes] = []
                for window in windows:
                    out += frame(self._f, window)
                return out
            finally:
                self._lock.release()

        def finish(self) -> list[bytes]:
            """End of stream: return the residual partial line (if any) as a line."""
            self._enter()
            try:
                f = self._f
                check(finish(f))
                return [unpack(f.head, f.head_len)] if f.head_kind == head_buffer else []
            finally:
                self._lock.release()

        def feed_segments(self, data: Buffer) -> list[Segment]:
            """Frame ``data`` into segments for batched JSON parsing (see :data:`Segment`).

            Runs of object lines come back as one JSON array each, so a chunk of small
            events parses with one ``orjson.loads``. Segments are bytes or views of
            bytes that this call owns, so they stay valid after later calls.

            Raises:
                FramerError: ``data`` is longer than :data:`FEED_WINDOW`.
            """
            if type(data) is not bytes or len(data) > FEED_WINDOW:
                data = _check_segment_feed(data)
            if not self._lock.acquire(False):
                raise _busy()
            try:
                f = self._f
                check(feed_segs(f, data, len(data)))
                n = f.nsegs
                if not n:
                    return []
                # One row of (kind, offset, length, count) per segment.
                fields = unpack(cast(u64_array, f.segs), 4 * n)
                # One copy of the framer's output per call: views into the C buffers
                # themselves would dangle once the next call reuses or frees them.
                out = unpack(f.out, f.out_len) if f.out_len else b""
                if n == 1 and fields[0] == seg_array:
                    return [(out, fields[3])]  # the common case: the whole chunk is one array
                head = unpack(f.head, f.head_len) if f.head_len else b""
                segments: list[Segment] = []
                for i in range(0, 4 * n, 4):
                    kind, offset, length, count = fields[i : i + 4]
                    if kind == seg_array:
                        base = out
                    else:
                        base = data if kind == seg_data else head
                        count = 0
                    if offset == 0 and length == len(base):
                        segments.append((base, count))
                    else:
                        segments.append((memoryview(base)[offset : offset + length], count))
                return segments
            finally:
                self._lock.release()

        def finish_segments(self) -> list[Segment]:
            """Batch form of :meth:`finish`."""
            return [(line, 0) for line in self.finish()]

        @property
        def stats(self) -> FramerStats:
            """A snapshot of the framer's counters."""
            f = self._f
            return FramerStats(f.lines, f.oversized_lines, f.dropped_bytes, f.pend_len, f.bytes_in)

    return CLineFramer


def _select_backend() -> tuple[str, type]:
    choice = os.environ.get("SIDECAR_SYNC_FRAMER", "auto").strip().lower() or "auto"
    if choice not in ("auto", "c", "python"):
        raise ImportError(f"SIDECAR_SYNC_FRAMER={choice!r} is not one of: auto, c, python")
    if choice == "python":
        return "python", PyLineFramer
    try:
        return "c", _load_c_backend()
    except ImportError as exc:
        if choice == "c":
            raise ImportError(
                "SIDECAR_SYNC_FRAMER=c but the C framer is not built "
                f"({exc}); install a C compiler and reinstall sidecar-sync"
            ) from exc
        log.warning(
            "C framer not available (%s); using the pure-Python framer, which is slower. "
            "Install a C compiler and reinstall sidecar-sync to build it.",
            exc,
        )
        return "python", PyLineFramer


BACKEND: str
LineFramer: type
BACKEND, LineFramer = _select_backend()
CLineFramer = LineFramer if BACKEND == "c" else None
