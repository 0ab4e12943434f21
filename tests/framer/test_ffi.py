"""Smoke test of the compiled module: it exposes ffi and lib, and the C API works by itself."""

from __future__ import annotations

import pytest

_framer = pytest.importorskip("sidecar_sync._framer", reason="the C framer is not built")
ffi, lib = _framer.ffi, _framer.lib


def test_constants_are_readable() -> None:
    assert (lib.NDJSON_OK, lib.NDJSON_ENOMEM) == (0, -1)
    heads = {lib.NDJSON_HEAD_NONE, lib.NDJSON_HEAD_KEEP, lib.NDJSON_HEAD_BUFFER, lib.NDJSON_HEAD_DROP}
    assert len(heads) == 4
    assert len({lib.NDJSON_SEG_ARRAY, lib.NDJSON_SEG_DATA, lib.NDJSON_SEG_HEAD}) == 3
    assert lib.NDJSON_BATCH_MAX_LINE == 65536
    assert ffi.sizeof("ndjson_segment") == 32


def test_new_and_free() -> None:
    f = lib.ndjson_framer_new(10, 20)
    assert f != ffi.NULL
    try:
        assert (f.max_line, f.max_pending, f.lines, f.pend_len) == (10, 20, 0, 0)
    finally:
        lib.ndjson_framer_free(f)
    lib.ndjson_framer_free(ffi.NULL)  # a no-op, like free(NULL)


@pytest.mark.parametrize(("max_line", "max_pending"), [(0, 10), (10, 9), (0, 0)])
def test_new_refuses_inconsistent_limits(max_line: int, max_pending: int) -> None:
    assert lib.ndjson_framer_new(max_line, max_pending) == ffi.NULL


def test_one_chunk_through_the_c_api() -> None:
    """Clean lines stay in the chunk (one split in Python builds them); a dirty one is copied."""
    f = ffi.gc(lib.ndjson_framer_new(100, 100), lib.ndjson_framer_free)
    assert lib.ndjson_feed_lines(f, b"a\nb\nc", 5) == lib.NDJSON_HEAD_KEEP | lib.NDJSON_BODY_CLEAN
    assert (f.newlines, f.head_kind, f.body_clean, f.pend_len, f.lines) == (2, lib.NDJSON_HEAD_KEEP, 1, 1, 2)
    assert lib.ndjson_feed_lines(f, b"d\n x \n", 6) == lib.NDJSON_HEAD_BUFFER
    assert f.head_kind == lib.NDJSON_HEAD_BUFFER and ffi.buffer(f.head, f.head_len)[:] == b"cd"
    assert f.body_clean == 0 and ffi.buffer(f.out, f.out_len)[:] == b"x"
    assert lib.ndjson_feed_lines(f, b"no newline", 10) == lib.NDJSON_HEAD_NONE
    assert lib.ndjson_feed_lines(f, b"\n", 1) == lib.NDJSON_HEAD_BUFFER | lib.NDJSON_BODY_CLEAN
    assert lib.ndjson_finish(f) == lib.NDJSON_OK and f.head_kind == lib.NDJSON_HEAD_NONE


def test_segments_through_the_c_api() -> None:
    f = ffi.gc(lib.ndjson_framer_new(100, 100), lib.ndjson_framer_free)
    chunk = b'{"a":1}\n{"b":2}\nnot json\n'
    assert lib.ndjson_feed_segments(f, chunk, len(chunk)) == lib.NDJSON_OK
    assert f.nsegs == 2
    first, second = f.segs[0], f.segs[1]
    assert (first.kind, first.count) == (lib.NDJSON_SEG_ARRAY, 2)
    assert ffi.buffer(f.out + first.offset, first.length)[:] == b'[{"a":1}\n,{"b":2}]'
    assert (second.kind, second.offset, second.length) == (lib.NDJSON_SEG_DATA, 16, 8)
