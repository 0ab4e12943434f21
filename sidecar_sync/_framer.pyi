"""Type stub of the compiled C framer (built by csrc/framer_build.py from csrc/ndjson_framer.h).

The module exposes only ``ffi`` and ``lib``; ``sidecar_sync._cframer`` wraps them. The
cdata classes below name the C types this package uses; they exist only for type
checkers (at run time every one is a ``_cffi_backend._CDataBase``), and ``ffi`` is
typed with just the calls the wrapper makes.
"""

from collections.abc import Callable
from typing import Final, Literal, TypeVar, overload, type_check_only

_T = TypeVar("_T")

@type_check_only
class _CData:
    """Any cffi cdata object."""

@type_check_only
class _CharPtr(_CData):
    """``const char *``."""

@type_check_only
class _U64Ptr(_CData):
    """``uint64_t *``."""

@type_check_only
class _U64PtrType:
    """The ctype ``uint64_t *`` (``ffi.typeof``)."""

@type_check_only
class _FramerPtr(_CData):
    """``ndjson_framer *``: an opaque framer."""

@type_check_only
class _FramerPtrPtr(_CData):
    """``ndjson_framer **``: where ``ndjson_framer_new`` puts the new framer."""
    def __getitem__(self, index: Literal[0], /) -> _FramerPtr: ...

@type_check_only
class _SegmentPtr(_CData):
    """``const ndjson_segment *``."""

@type_check_only
class _LinesPtr(_CData):
    """``ndjson_lines *``."""

    first: _CharPtr
    first_len: int
    parts: int
    out: _CharPtr
    out_len: int

@type_check_only
class _SegmentsPtr(_CData):
    """``ndjson_segments *``."""

    segs: _SegmentPtr
    nsegs: int
    out: _CharPtr
    out_len: int
    head: _CharPtr
    head_len: int

@type_check_only
class _CountersPtr(_CData):
    """``ndjson_counters *``."""

    lines: int
    oversized_lines: int
    dropped_bytes: int
    pending: int
    bytes_in: int

@type_check_only
class _FFI:
    NULL: _CData
    @overload
    def new(self, cdecl: Literal["ndjson_framer **"], /) -> _FramerPtrPtr: ...
    @overload
    def new(self, cdecl: Literal["ndjson_lines *"], /) -> _LinesPtr: ...
    @overload
    def new(self, cdecl: Literal["ndjson_segments *"], /) -> _SegmentsPtr: ...
    @overload
    def new(self, cdecl: Literal["ndjson_counters *"], /) -> _CountersPtr: ...
    def gc(self, cdata: _T, destructor: Callable[[_T], None], size: int = ..., /) -> _T: ...
    def typeof(self, cdecl: Literal["uint64_t *"], /) -> _U64PtrType: ...
    def cast(self, ctype: _U64PtrType, value: _SegmentPtr, /) -> _U64Ptr: ...
    @overload
    def unpack(self, cdata: _CharPtr, length: int, /) -> bytes: ...
    @overload
    def unpack(self, cdata: _U64Ptr, length: int, /) -> list[int]: ...
    def sizeof(self, cdecl: str, /) -> int: ...
    def buffer(self, cdata: _CharPtr, size: int, /) -> _Buffer: ...
    def from_buffer(self, data: memoryview, /) -> _CData: ...

@type_check_only
class _Buffer:
    """What ``ffi.buffer`` returns: C memory behind the buffer protocol."""

    def __buffer__(self, flags: int, /) -> memoryview: ...

class _Lib:
    NDJSON_OK: Final[int]
    NDJSON_ENOMEM: Final[int]
    NDJSON_EINVAL: Final[int]
    NDJSON_PARTS_NONE: Final[int]
    NDJSON_PARTS_ALL: Final[int]
    NDJSON_PARTS_REST: Final[int]
    NDJSON_SEG_ARRAY: Final[int]
    NDJSON_SEG_DATA: Final[int]
    NDJSON_SEG_HEAD: Final[int]
    NDJSON_BATCH_MAX_LINE: Final[int]
    def ndjson_framer_new(self, out: _FramerPtrPtr, max_line: int, /) -> int: ...
    def ndjson_framer_free(self, f: _FramerPtr, /) -> None: ...
    def ndjson_feed_lines(self, f: _FramerPtr, data: bytes, n: int, out: _LinesPtr, /) -> int: ...
    def ndjson_feed_segments(self, f: _FramerPtr, data: bytes | _CData, n: int, out: _SegmentsPtr, /) -> int: ...
    def ndjson_set_batch_size(self, f: _FramerPtr, max_batch: int, /) -> int: ...
    def ndjson_finish(self, f: _FramerPtr, out: _LinesPtr, /) -> int: ...
    def ndjson_stats(self, f: _FramerPtr, out: _CountersPtr, /) -> int: ...
    def ndjson_is_single_object(self, line: bytes, n: int, /) -> int: ...

ffi: _FFI
lib: _Lib
