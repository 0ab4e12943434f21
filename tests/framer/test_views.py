"""``feed_views``: the segments form without copies, read in place from a reused buffer,
with arrays cut to a batch size; and the object check on lines long enough for its wide scan."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar_sync import framer as framer_module
from sidecar_sync.errors import FramerError
from sidecar_sync.framer import Framer
from tests.framer.reference import caps, cut, cut_points, lines_of_segments, model_single_object, reference_state

_JSON_LINES = st.one_of(
    st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=6).map(lambda d: orjson.dumps(d) + b"\n"),
    st.sampled_from([b"null\n", b"{\n", b'{"x":"}\n', b'{"a":1},{"b":2}\n', b"\xff\n", b"  \n", b'{"s":"\\"}\n']),
    st.binary(max_size=10),
)


@given(cap=st.one_of(caps, st.just(400)), batch=st.sampled_from([0, 1, 16, 40, 300]), data=st.data())
def test_views_give_the_lines_of_feed_from_a_reused_buffer(
    framer_cls: type[Framer], cap: int, batch: int, data: st.DataObject
) -> None:
    """Every chunk is copied into one bytearray that the next chunk overwrites; the views,
    read before that, split back into exactly the lines that feed() returns, and no array is
    longer than the batch size unless it holds a single line."""
    stream = b"".join(data.draw(st.lists(_JSON_LINES, max_size=20), label="pieces"))
    chunks = cut(stream, cut_points(data, stream))
    by_views, by_lines = framer_cls(cap, cap), framer_cls(cap, cap)
    buffer = bytearray(max((len(c) for c in chunks), default=0))
    got: list[bytes] = []
    for chunk in chunks:
        buffer[: len(chunk)] = chunk
        segments = by_views.feed_views(memoryview(buffer)[: len(chunk)], batch)
        lines = lines_of_segments(segments)  # read now: valid until the next call
        assert lines == by_lines.feed(chunk)
        assert by_views.stats == by_lines.stats
        for text, count in segments:
            if count and batch:
                assert len(text) <= batch or count == 1
            if count:
                assert framer_cls is not framer_module.PyLineFramer
        got += lines
        buffer[:] = b"\xff" * len(buffer)  # the reader fills its buffer again
    got += lines_of_segments(by_views.finish_segments())
    assert got == reference_state(stream, cap, finished=True).lines


def test_views_take_bytes_and_refuse_a_negative_batch(framer_cls: type[Framer]) -> None:
    f = framer_cls()
    assert lines_of_segments(f.feed_views(b'{"a":1}\n{"b":2}\nx\n{"c"', 0)) == [b'{"a":1}', b'{"b":2}', b"x"]
    with pytest.raises(FramerError):
        f.feed_views(b"{}\n", -1)
    assert lines_of_segments(f.feed_views(b"}\n", 0)) == [b'{"c"}']


def test_a_batch_size_cuts_one_chunk_into_arrays_in_order(c_framer_cls: type[Framer]) -> None:
    lines = [orjson.dumps({"i": i, "pad": "x" * (i % 7)}) for i in range(100)]
    f = c_framer_cls()
    segments = f.feed_views(b"\n".join(lines) + b"\n", 200)
    assert len(segments) > 1 and all(count and len(text) <= 200 for text, count in segments)
    assert lines_of_segments(segments) == lines


# ---- the object check on long lines (the 16-byte scan and its scalar tail) ----------------

_framer = pytest.importorskip("sidecar_sync._framer", reason="the C framer is not built")


def _c_single_object(line: bytes) -> bool:
    return bool(_framer.lib.ndjson_is_single_object(line, len(line)))


_LONG_PIECES = st.one_of(
    st.sampled_from([b'"', b"\\", b"{", b"}", b"[", b"]", b":", b",", b'\\"', b"\\\\", b'"}', b"x" * 15, b"y" * 16]),
    st.binary(max_size=20),
)


@given(st.lists(_LONG_PIECES, max_size=40).map(b"".join))
def test_long_lines_match_the_model(body: bytes) -> None:
    for line in (b"{" + body + b"}", b'{"k":"' + body + b'"}', body):
        assert _c_single_object(line) == model_single_object(line), line


@given(
    st.dictionaries(st.text(max_size=40), st.text(min_size=0, max_size=80), max_size=8),
    st.integers(0, 40),
)
def test_every_long_object_is_one_and_its_prefixes_are_not(obj: dict[str, str], cut_at: int) -> None:
    line = orjson.dumps(obj)
    assert _c_single_object(line)
    prefix = line[: max(len(line) - 1 - cut_at, 0)]
    assert _c_single_object(prefix) == model_single_object(prefix)
