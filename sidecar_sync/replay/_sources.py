"""Where a replay's bytes come from: paths, binary streams, gzip, and how far reading got.

A source is a path or a binary stream. :func:`read_source` turns one into the
NDJSON bytes it holds, chunk by chunk, and nothing more: lines, JSON and messages
are the pipeline's business. A path is read with :func:`os.readv` into one buffer
that every read fills again (sequential read-ahead advised), a stream with ``read1``
when it has one, so a pipe is replayed
as it arrives instead of when it closes. Either is gunzipped when its first bytes
are the gzip magic, whatever its name, member after member, with the output of each
step bounded by the chunk size; a ``.gz`` name on data that is not gzip is an error.
Every failure is a :class:`~sidecar_sync.errors.ReplayError` naming the source.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Final, cast

from .._readbuf import read_buffer
from ..errors import ReplayError, ReplaySourceMissingError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Source",
    "ProgressCallback",
    "ByteCounter",
    "source_name",
    "as_sources",
    "is_path",
    "total_size",
    "size_or_zero",
    "read_source",
]

#: Bytes asked of the OS per read. Large reads keep the per-read Python work small
#: against the bytes; the pipeline cuts them into pieces of its own size anyway.
DEFAULT_CHUNK_SIZE: Final = 2**20

#: A path, or a binary stream with ``read`` (and ideally ``read1``).
Source = str | os.PathLike[str] | IO[bytes]

#: ``progress(done, total)``: bytes of input read so far (compressed bytes for gzip)
#: and the total when every source is a file of known size, else ``None``.
ProgressCallback = Callable[[int, int | None], None]

#: Told the size of each chunk of raw input as it is read (before gunzip).
ByteCounter = Callable[[int], None]

_GZIP_MAGIC: Final = b"\x1f\x8b"
#: zlib's ``wbits`` for a gzip header and trailer around a deflate stream.
_GZIP_WBITS: Final = 31


def source_name(source: Source) -> str:
    """A printable name for a source: the path, or a stream's ``name``."""
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    name = getattr(source, "name", None)
    if name == 0 or name == "<stdin>":
        return "<stdin>"
    return name if isinstance(name, str) else f"<{type(source).__name__}>"


def is_path(source: Source) -> bool:
    """True for a path (read by name, so a worker process can open it too), False for a stream."""
    return isinstance(source, (str, os.PathLike))


def as_sources(sources: Source | Sequence[Source]) -> list[Source]:
    """One source, or a sequence of them, as a list."""
    if isinstance(sources, (str, os.PathLike)) or hasattr(sources, "read"):
        return [cast(Source, sources)]
    return list(sources)


def size_or_zero(path: str | os.PathLike[str]) -> int:
    """The file's size, or 0 when it cannot be stat'ed (opening it reports why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def total_size(sources: list[Source]) -> int | None:
    """The bytes of input to read, or ``None`` when a source is a stream (its size is unknown)."""
    total = 0
    for source in sources:
        if not isinstance(source, (str, os.PathLike)):
            return None
        total += size_or_zero(source)
    return total


def read_source(
    source: Source, name: str, chunk_size: int, progress: ByteCounter | None
) -> Iterator[bytes | memoryview]:
    """Yield the NDJSON bytes of a source, gunzipped when it starts with the gzip magic.

    A chunk may be a view of a buffer that the next read fills again: use each one
    before asking for the next.

    Args:
        source: a path or a binary stream.
        name: the source's name in error messages (:func:`source_name`).
        chunk_size: bytes per read, and the most output of one gunzip step.
        progress: told the size of every raw chunk read.

    Raises:
        ReplayError: the source cannot be opened or read, is not gzip though its
            name ends in ``.gz``, or holds bad or truncated gzip data.
    """
    raw = (
        _read_path(source, name, chunk_size, progress)
        if isinstance(source, (str, os.PathLike))
        else _read_stream(source, name, chunk_size, progress)
    )
    first = b""
    for data in raw:
        first += data
        if len(first) >= len(_GZIP_MAGIC):
            break  # enough to tell gzip from NDJSON (a stream may hand out single bytes)
    if not first:
        return
    if first.startswith(_GZIP_MAGIC):
        yield from _gunzip(_chain(first, map(bytes, raw)), name, chunk_size)
        return
    if name.endswith(".gz"):
        raise ReplayError(
            f"{name}: not a gzip file (the name ends in .gz but the data has no gzip header)", source=name
        )
    yield first
    yield from raw


def _read_path(
    path: str | os.PathLike[str], name: str, chunk_size: int, progress: ByteCounter | None
) -> Iterator[bytes | memoryview]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        error = ReplaySourceMissingError if isinstance(exc, FileNotFoundError) else ReplayError
        raise error(f"{name}: cannot open: {exc.strerror or exc}", source=name) from exc
    try:
        if hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):  # advice only: some files (pipes, FIFOs) refuse it
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        # One buffer for the whole file: no allocation (and no fresh mapping of a
        # large block) per read.
        buffer = read_buffer(chunk_size)
        view = memoryview(buffer)
        readv = os.readv
        while True:
            try:
                size = readv(fd, (buffer,))
            except OSError as exc:
                raise ReplayError(f"{name}: cannot read: {exc.strerror or exc}", source=name) from exc
            if not size:
                return
            if progress is not None:
                progress(size)
            yield view[:size]
    finally:
        os.close(fd)


def _read_stream(stream: IO[bytes], name: str, chunk_size: int, progress: ByteCounter | None) -> Iterator[bytes]:
    # read1 returns what is there (at most one raw read), so a pipe's lines are
    # replayed as they arrive; read(n) would wait for n bytes or EOF.
    read: Callable[[int], object] = getattr(stream, "read1", None) or stream.read
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
    decomp = zlib.decompressobj(wbits=_GZIP_WBITS)
    started = False  # the current decompressor has been given bytes of a member
    try:
        for chunk in chunks:
            data = chunk
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
                    decomp = zlib.decompressobj(wbits=_GZIP_WBITS)
                    started = False
                else:
                    data = decomp.unconsumed_tail
            # all of this chunk was consumed; loop for more input
        if started:
            # Input ended inside a member: hand out what zlib still holds, then complain.
            tail = decomp.flush()
            if tail:
                yield tail
            raise ReplayError(f"{name}: gzip data ends early (truncated file?)", source=name)
    except zlib.error as exc:
        raise ReplayError(f"{name}: bad gzip data: {exc}", source=name) from exc


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
