"""What both framer twins share: limits, result types, the :class:`Framer` protocol, helpers.

The twins live apart (:mod:`sidecar_sync._pyframer`, :mod:`sidecar_sync._cframer`) and
:mod:`sidecar_sync.framer` picks one; this module is what they have in common, so
neither twin imports the other and the picking module imports both without a circle.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Final, NamedTuple, Protocol

from .errors import FramerBusyError, FramerError

__all__ = [
    "FEED_WINDOW",
    "MAX_LINE_SIZE",
    "MAX_PENDING",
    "Buffer",
    "Framer",
    "FramerStats",
    "Segment",
    "busy",
    "byte_view",
    "check_limits",
    "segment_chunk",
    "windows",
]

#: Default cap on one line, in bytes (10 MiB).
MAX_LINE_SIZE: Final = 10 * 2**20
#: Default cap on the bytes a framer holds between feeds (50 MiB).
MAX_PENDING: Final = 50 * 2**20
#: Feeds larger than this many bytes are framed in windows of this size.
FEED_WINDOW: Final = 8 * 2**20

#: What a framer takes: any flat or strided byte buffer (others are copied to bytes first).
Buffer = bytes | bytearray | memoryview

#: One unit of ``feed_segments`` output: ``(text, count)``. With ``count > 0``
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


class Framer(Protocol):
    """What both twins are: an NDJSON line framer for one byte stream.

    Both raise :class:`~sidecar_sync.errors.FramerError` for limits out of range,
    ``TypeError`` for input that is not a byte buffer, and
    :class:`~sidecar_sync.errors.FramerBusyError` when two threads use one framer at once.
    """

    def __init__(self, max_line_size: int = MAX_LINE_SIZE, max_pending: int = MAX_PENDING) -> None: ...

    @property
    def max_line_size(self) -> int:
        """The longest line kept, in bytes (raw, without its ``\\n``)."""
        ...

    @property
    def max_pending(self) -> int:
        """The most bytes held between feeds; at least :attr:`max_line_size`."""
        ...

    def feed(self, data: Buffer) -> list[bytes]:
        """Frame ``data``; return every line it completes, in order."""
        ...

    def finish(self) -> list[bytes]:
        """End of stream: return the residual partial line (if any) as a line."""
        ...

    def feed_segments(self, data: Buffer) -> list[Segment]:
        """Frame at most :data:`FEED_WINDOW` bytes into segments for batched JSON parsing."""
        ...

    def feed_views(self, data: Buffer, batch_size: int = 0) -> list[Segment]:
        """:meth:`feed_segments` without copies: views valid until the next call; arrays of
        at most ``batch_size`` bytes when it is > 0 (unless one line alone is longer)."""
        ...

    def finish_segments(self) -> list[Segment]:
        """Batch form of :meth:`finish`."""
        ...

    @property
    def stats(self) -> FramerStats:
        """A snapshot of the framer's counters; any thread may read it, even during a feed."""
        ...


def check_limits(max_line_size: int, max_pending: int) -> None:
    """Refuse limits that are not ints in ``[1, sys.maxsize]`` or with ``max_pending < max_line_size``.

    ``max_pending`` bounds what a framer holds between feeds, which is the partial
    line (at most ``max_line_size``); the scratch memory of one feed is bounded by
    :data:`FEED_WINDOW` instead, where the feeds are cut into windows.

    Raises:
        FramerError: a limit is out of range, or the two are inconsistent.
    """
    for name, value in (("max_line_size", max_line_size), ("max_pending", max_pending)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= sys.maxsize:
            raise FramerError(f"{name} must be an int in [1, {sys.maxsize}], got {value!r}")
    if max_pending < max_line_size:
        raise FramerError(
            f"max_pending ({max_pending}) must be >= max_line_size ({max_line_size}): "
            "a line is held whole until its newline arrives"
        )


def byte_view(data: Buffer) -> memoryview:
    """A flat view of ``data`` as bytes, without copying it when it is already flat.

    Raises:
        TypeError: ``data`` is not bytes, bytearray or memoryview.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a framer takes bytes, bytearray or memoryview, not {type(data).__name__}")
    view = memoryview(data)
    if view.ndim != 1 or view.itemsize != 1 or not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view


def windows(data: Buffer) -> Iterator[bytes]:
    """Yield ``data`` as bytes in pieces of at most :data:`FEED_WINDOW` bytes.

    Pieces are copied one at a time, so a huge feed costs one window of scratch
    memory, not a second copy of the whole input.

    Raises:
        TypeError: ``data`` is not bytes, bytearray or memoryview (when the first piece is asked for).
    """
    window = FEED_WINDOW
    if type(data) is bytes and len(data) <= window:
        yield data
        return
    view = byte_view(data)
    if len(view) <= window:
        yield view.tobytes()
        return
    for start in range(0, len(view), window):
        yield view[start : start + window].tobytes()


def segment_chunk(data: Buffer) -> bytes:
    """The bytes of a ``feed_segments`` chunk, which must fit in one window.

    Raises:
        TypeError: ``data`` is not bytes, bytearray or memoryview.
        FramerError: ``data`` is longer than :data:`FEED_WINDOW`.
    """
    if type(data) is not bytes:
        data = byte_view(data).tobytes()
    if len(data) > FEED_WINDOW:
        raise FramerError(f"feed_segments() takes at most {FEED_WINDOW} bytes per call, got {len(data)}")
    return data


def busy() -> FramerBusyError:
    """The error for a framer entered by a second thread while the first is inside it."""
    return FramerBusyError("a framer was fed from two threads at once; it belongs to one reader thread")
