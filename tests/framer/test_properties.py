"""Property tests: both twins agree with the whole-stream reference for any stream and any chunking."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sidecar_sync import framer as framer_module
from tests.framer.reference import (
    caps,
    cut,
    cut_points,
    lines_of_segments,
    model_single_object,
    reference_state,
    streams,
)
from tests.framer.twins import patch_everywhere

BATCH_MAX_LINE = 65536  # NDJSON_BATCH_MAX_LINE in csrc/ndjson_framer.h


def check_feeds(framer: object, chunks: list[bytes], cap: int) -> None:
    """Feed ``chunks`` one by one; after each feed and after finish(), output and counters
    equal the reference's for the stream so far."""
    prefix = b""
    seen: list[bytes] = []
    for chunk in chunks:
        out = framer.feed(chunk)  # type: ignore[attr-defined]
        prefix += chunk
        want = reference_state(prefix, cap)
        assert out == want.lines[len(seen) :], (prefix, chunk)
        seen = want.lines
        stats = framer.stats  # type: ignore[attr-defined]
        assert tuple(stats[:4]) == want.stats, (prefix, chunk)
        assert stats.pending <= cap
        assert stats.bytes_in == len(prefix)
    out = framer.finish()  # type: ignore[attr-defined]
    want = reference_state(prefix, cap, finished=True)
    assert seen + out == want.lines
    assert tuple(framer.stats[:4]) == want.stats  # type: ignore[attr-defined]


@given(cap=caps, extra=st.integers(0, 3), data=st.data())
def test_any_stream_any_chunking_matches_reference(framer_cls: type, cap: int, extra: int, data: st.DataObject) -> None:
    """Each feed returns exactly the lines the reference completes, and the counters match."""
    stream = data.draw(streams(cap), label="stream")
    chunks = cut(stream, cut_points(data, stream))
    check_feeds(framer_cls(cap, cap + extra), chunks, cap)


@given(cap=caps, data=st.data())
def test_byte_at_a_time_matches_reference(framer_cls: type, cap: int, data: st.DataObject) -> None:
    """Feeding one byte per call changes nothing."""
    stream = data.draw(streams(cap), label="stream")
    check_feeds(framer_cls(cap, cap), [stream[i : i + 1] for i in range(len(stream))], cap)


@given(cap=caps, window=st.integers(1, 9), data=st.data())
def test_feeds_larger_than_the_window_match_reference(
    framer_cls: type, cap: int, window: int, data: st.DataObject
) -> None:
    """A feed longer than FEED_WINDOW is framed in windows with the same result."""
    stream = data.draw(streams(cap), label="stream")
    kinds = data.draw(st.sampled_from([bytes, bytearray, memoryview]), label="buffer type")
    chunks = [kinds(chunk) for chunk in cut(stream, cut_points(data, stream))]
    with patch_everywhere("FEED_WINDOW", window):
        check_feeds(framer_cls(cap, cap), chunks, cap)  # type: ignore[arg-type]


@given(cap=caps, data=st.data())
def test_twins_agree_call_by_call(c_framer_cls: type, cap: int, data: st.DataObject) -> None:
    """The C framer and the Python twin return the same lines and counters after every call."""
    stream = data.draw(streams(cap), label="stream")
    c, py = c_framer_cls(cap, cap), framer_module.PyLineFramer(cap, cap)
    for chunk in cut(stream, cut_points(data, stream)):
        assert c.feed(chunk) == py.feed(chunk)
        assert c.stats == py.stats
    assert c.finish() == py.finish()
    assert c.stats == py.stats


_JSON_PIECES = st.one_of(
    st.sampled_from(
        [
            b'{"type":"assistant","n":1}\n',
            b'{"x":"}\n',
            b'{","y":1}\n',
            b'{"a":1},{"b":2}\n',
            b'{"s":"a\\"b{"}\n',
            b'{"s":"\\\\"}\n',
            b'{"k":[1,{"z":"]"}]}\n',
            b'  {"padded":true} \r\n',
            b"{}\n",
            b"{\n",
            b"}\n",
            b"null\n",
            b'"str"\n',
            b"\n\n",
            b"\xff\xfe\n",
        ]
    ),
    st.binary(max_size=8),
    st.dictionaries(st.text(max_size=4), st.text(max_size=6), max_size=3).map(lambda d: orjson.dumps(d) + b"\n"),
)


@given(cap=st.one_of(caps, st.just(200)), data=st.data())
def test_segments_split_back_into_the_lines_of_feed(framer_cls: type, cap: int, data: st.DataObject) -> None:
    """feed_segments() yields the same lines as feed(), and arrays hold only single-object lines.

    Segments are kept across later calls and read at the end: they must stay valid.
    """
    stream = b"".join(data.draw(st.lists(_JSON_PIECES, max_size=20), label="pieces"))
    chunks = cut(stream, cut_points(data, stream))
    by_segments, by_lines = framer_cls(cap, cap), framer_cls(cap, cap)
    kept = []
    for chunk in chunks:
        segments = by_segments.feed_segments(chunk)
        lines = by_lines.feed(chunk)
        assert lines_of_segments(segments) == lines
        assert by_segments.stats == by_lines.stats
        kept += segments
    tail = by_segments.finish_segments()
    assert lines_of_segments(tail) == by_lines.finish()
    kept += tail
    assert lines_of_segments(kept) == reference_state(stream, cap, finished=True).lines
    for text, count in kept:
        if framer_cls is framer_module.PyLineFramer:
            assert count == 0  # the twin never batches
        elif count:
            batched = lines_of_segments([(text, count)])
            assert all(model_single_object(line) and len(line) <= BATCH_MAX_LINE for line in batched)
        else:
            line = bytes(text)
            assert not (model_single_object(line) and len(line) <= BATCH_MAX_LINE), line
