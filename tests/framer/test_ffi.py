"""The compiled module by itself: it exposes ffi and lib, and the C API keeps its contract.

Every function returns a status code, results come back through caller-provided
structs, and the framer struct is opaque (only accessors read it).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.framer.reference import caps, cut, cut_points, reference_state, streams

_framer = pytest.importorskip("sidecar_sync._framer", reason="the C framer is not built")
ffi, lib = _framer.ffi, _framer.lib


def new_framer(max_line: int) -> object:
    box = ffi.new("ndjson_framer **")
    assert lib.ndjson_framer_new(box, max_line) == lib.NDJSON_OK
    return ffi.gc(box[0], lib.ndjson_framer_free)


def counters(f: object) -> tuple[int, int, int, int, int]:
    c = ffi.new("ndjson_counters *")
    assert lib.ndjson_stats(f, c) == lib.NDJSON_OK
    return (c.lines, c.oversized_lines, c.dropped_bytes, c.pending, c.bytes_in)


def lines_of(r: object, chunk: bytes) -> list[bytes]:
    """The lines an ndjson_lines result describes, rebuilt by its documented rule."""
    lines = [ffi.unpack(r.first, r.first_len)] if r.first_len else []  # type: ignore[attr-defined]
    if r.parts != lib.NDJSON_PARTS_NONE:  # type: ignore[attr-defined]
        parts = chunk.split(b"\n")[:-1]
        lines += parts if r.parts == lib.NDJSON_PARTS_ALL else parts[1:]  # type: ignore[attr-defined]
    if r.out_len:  # type: ignore[attr-defined]
        lines += ffi.unpack(r.out, r.out_len).split(b"\n")  # type: ignore[attr-defined]
    return lines


def test_constants_are_readable() -> None:
    assert (lib.NDJSON_OK, lib.NDJSON_ENOMEM, lib.NDJSON_EINVAL) == (0, -1, -2)
    assert len({lib.NDJSON_PARTS_NONE, lib.NDJSON_PARTS_ALL, lib.NDJSON_PARTS_REST}) == 3
    assert len({lib.NDJSON_SEG_ARRAY, lib.NDJSON_SEG_DATA, lib.NDJSON_SEG_HEAD}) == 3
    assert lib.NDJSON_BATCH_MAX_LINE == 65536
    assert ffi.sizeof("ndjson_segment") == 32


def test_the_framer_struct_is_opaque() -> None:
    """Python cannot size or read the framer: only the accessors can."""
    with pytest.raises(ffi.error):
        ffi.sizeof("ndjson_framer")
    f = new_framer(10)
    with pytest.raises(AttributeError):
        f.lines  # type: ignore[attr-defined]  # noqa: B018 - the read is the test


def test_new_and_free() -> None:
    box = ffi.new("ndjson_framer **")
    assert lib.ndjson_framer_new(box, 10) == lib.NDJSON_OK
    f = box[0]
    assert f != ffi.NULL
    try:
        assert counters(f) == (0, 0, 0, 0, 0)
    finally:
        lib.ndjson_framer_free(f)
    lib.ndjson_framer_free(ffi.NULL)  # a no-op, like free(NULL)


def test_misuse_is_refused_with_einval() -> None:
    box = ffi.new("ndjson_framer **")
    assert lib.ndjson_framer_new(box, 0) == lib.NDJSON_EINVAL and box[0] == ffi.NULL
    assert lib.ndjson_framer_new(ffi.NULL, 10) == lib.NDJSON_EINVAL
    f = new_framer(10)
    lines, segments, stats = ffi.new("ndjson_lines *"), ffi.new("ndjson_segments *"), ffi.new("ndjson_counters *")
    assert lib.ndjson_feed_lines(ffi.NULL, b"a\n", 2, lines) == lib.NDJSON_EINVAL
    assert lib.ndjson_feed_lines(f, b"a\n", 2, ffi.NULL) == lib.NDJSON_EINVAL
    assert lib.ndjson_feed_lines(f, ffi.NULL, 1, lines) == lib.NDJSON_EINVAL
    assert lib.ndjson_feed_segments(f, b"a\n", 2, ffi.NULL) == lib.NDJSON_EINVAL
    assert lib.ndjson_feed_segments(f, ffi.NULL, 1, segments) == lib.NDJSON_EINVAL
    assert lib.ndjson_finish(ffi.NULL, lines) == lib.NDJSON_EINVAL
    assert lib.ndjson_stats(f, ffi.NULL) == lib.NDJSON_EINVAL
    assert lib.ndjson_stats(ffi.NULL, stats) == lib.NDJSON_EINVAL
    assert counters(f) == (0, 0, 0, 0, 0), "a refused call changed nothing"
    assert lib.ndjson_feed_lines(f, ffi.NULL, 0, lines) == lib.NDJSON_OK  # no bytes: NULL is fine


def test_one_chunk_through_the_lines_form() -> None:
    """Clean lines stay in the chunk (one split in Python builds them); a dirty one is copied."""
    f = new_framer(100)
    r = ffi.new("ndjson_lines *")
    assert lib.ndjson_feed_lines(f, b"a\nb\nc", 5, r) == lib.NDJSON_OK
    assert (r.parts, r.first_len, r.out_len) == (lib.NDJSON_PARTS_ALL, 0, 0)
    assert counters(f) == (2, 0, 0, 1, 5)
    assert lib.ndjson_feed_lines(f, b"d\n x \n", 6, r) == lib.NDJSON_OK
    assert r.parts == lib.NDJSON_PARTS_NONE
    assert ffi.unpack(r.first, r.first_len) == b"cd"  # the carried line, completed
    assert ffi.unpack(r.out, r.out_len) == b"x"
    assert lib.ndjson_feed_lines(f, b" y\nz\n", 5, r) == lib.NDJSON_OK
    assert r.parts == lib.NDJSON_PARTS_REST and ffi.unpack(r.first, r.first_len) == b"y"
    assert lib.ndjson_feed_lines(f, b"no newline", 10, r) == lib.NDJSON_OK
    assert (r.parts, r.first_len, r.out_len) == (lib.NDJSON_PARTS_NONE, 0, 0)
    assert lib.ndjson_finish(f, r) == lib.NDJSON_OK and ffi.unpack(r.first, r.first_len) == b"no newline"
    assert lib.ndjson_finish(f, r) == lib.NDJSON_OK and r.first_len == 0


def test_segments_through_the_c_api() -> None:
    f = new_framer(100)
    r = ffi.new("ndjson_segments *")
    chunk = b'{"a":1}\n{"b":2}\nnot json\n'
    assert lib.ndjson_feed_segments(f, chunk, len(chunk), r) == lib.NDJSON_OK
    assert r.nsegs == 2
    first, second = r.segs[0], r.segs[1]
    assert (first.kind, first.count) == (lib.NDJSON_SEG_ARRAY, 2)
    assert ffi.unpack(r.out + first.offset, first.length) == b'[{"a":1}\n,{"b":2}]'
    assert (second.kind, second.offset, second.length) == (lib.NDJSON_SEG_DATA, 16, 8)


@given(cap=caps, data=st.data())
def test_lines_results_keep_their_layout_rules(cap: int, data: st.DataObject) -> None:
    """For any stream and chunking, each result obeys the documented layout (chunk parts never
    combine with copied lines) and rebuilds exactly the reference's lines; ndjson_stats agrees."""
    stream = data.draw(streams(cap), label="stream")
    f, r = new_framer(cap), ffi.new("ndjson_lines *")
    prefix, seen = b"", []
    for chunk in cut(stream, cut_points(data, stream)):
        assert lib.ndjson_feed_lines(f, chunk, len(chunk), r) == lib.NDJSON_OK
        if r.parts == lib.NDJSON_PARTS_ALL:
            assert (r.first_len, r.out_len) == (0, 0)
        elif r.parts == lib.NDJSON_PARTS_REST:
            assert r.out_len == 0
        else:
            assert r.parts == lib.NDJSON_PARTS_NONE
        prefix += chunk
        want = reference_state(prefix, cap)
        seen += lines_of(r, chunk)
        assert seen == want.lines
        assert counters(f) == (*want.stats, len(prefix))
    assert lib.ndjson_finish(f, r) == lib.NDJSON_OK
    assert seen + lines_of(r, b"") == reference_state(prefix, cap, finished=True).lines


def test_status_codes_map_to_exceptions() -> None:
    """ENOMEM is a MemoryError; any other refusal is a FramerError (misuse, a bug in the wrapper)."""
    from sidecar_sync._cframer import _error
    from sidecar_sync.errors import FramerError

    assert isinstance(_error(lib.NDJSON_ENOMEM, "ndjson_feed_lines"), MemoryError)
    einval = _error(lib.NDJSON_EINVAL, "ndjson_feed_lines")
    assert isinstance(einval, FramerError) and "ndjson_feed_lines" in str(einval)
