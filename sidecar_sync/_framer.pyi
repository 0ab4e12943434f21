"""Type stub of the compiled C framer (built by csrc/framer_build.py from csrc/ndjson_framer.h).

The module exposes only ``ffi`` and ``lib``; ``sidecar_sync.framer`` wraps them.
C pointers and structs are cffi cdata objects, typed ``Any`` here.
"""

from typing import Any, Final

class _Lib:
    NDJSON_OK: Final[int]
    NDJSON_ENOMEM: Final[int]
    NDJSON_HEAD_NONE: Final[int]
    NDJSON_HEAD_KEEP: Final[int]
    NDJSON_HEAD_BUFFER: Final[int]
    NDJSON_HEAD_DROP: Final[int]
    NDJSON_BODY_CLEAN: Final[int]
    NDJSON_SEG_ARRAY: Final[int]
    NDJSON_SEG_DATA: Final[int]
    NDJSON_SEG_HEAD: Final[int]
    NDJSON_BATCH_MAX_LINE: Final[int]
    def ndjson_framer_new(self, max_line: int, max_pending: int, /) -> Any: ...
    def ndjson_framer_free(self, f: Any, /) -> None: ...
    def ndjson_feed_lines(self, f: Any, data: bytes, n: int, /) -> int: ...
    def ndjson_feed_segments(self, f: Any, data: bytes, n: int, /) -> int: ...
    def ndjson_finish(self, f: Any, /) -> int: ...
    def ndjson_is_single_object(self, line: bytes, n: int, /) -> int: ...

ffi: Any
lib: _Lib
