"""``EventDecoder.feed_pieces``: one framing call per feed, arrays parsed where they lie, a
piece at a time; the events are exactly those of decoding each line alone."""

from __future__ import annotations

import contextlib

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar_sync.decoder import Event, EventDecoder
from sidecar_sync.framer import MAX_LINE_SIZE, MAX_PENDING
from tests.decoder.conftest import MakeDecoder
from tests.decoder.test_decoder import pieces, reference_decode
from tests.framer.reference import cut, cut_points
from tests.framer.twins import TWINS, patch_everywhere


def pieces_of(decoder: EventDecoder, chunks: list[bytes], piece_size: int) -> list[tuple[list[Event], int]]:
    """Feed every chunk through one reused bytearray, overwritten after each feed."""
    out: list[tuple[list[Event], int]] = []
    buffer = bytearray(max((len(c) for c in chunks), default=0))
    for chunk in chunks:
        buffer[: len(chunk)] = chunk
        out += decoder.feed_pieces(memoryview(buffer)[: len(chunk)], piece_size)
        buffer[:] = b"\x00" * len(buffer)
    return out


@given(
    cap=st.sampled_from([8, 40, MAX_LINE_SIZE]),
    piece_size=st.sampled_from([1, 30, 200, 1 << 14]),
    window=st.sampled_from([5, 64, None]),
    data=st.data(),
)
def test_pieces_decode_like_the_reference(cap: int, piece_size: int, window: int | None, data: st.DataObject) -> None:
    """Valid, invalid, oversized and non-UTF-8 lines, any chunking, any piece size: the
    pieces' events, in order, are the events of decoding each reference line alone, and the
    counters are those of feed()."""
    stream = b"".join(data.draw(st.lists(pieces, max_size=25), label="pieces"))
    chunks = cut(stream, cut_points(data, stream))
    want_events, want_invalid = reference_decode(stream, cap)
    with patch_everywhere("FEED_WINDOW", window) if window else contextlib.nullcontext():
        for cls in (cls for cls in TWINS.values() if cls is not None):
            by_pieces = EventDecoder(cap, cap, framer=cls(cap, cap))
            by_feed = EventDecoder(cap, cap, framer=cls(cap, cap))
            out = pieces_of(by_pieces, chunks, piece_size)
            events = [event for batch, _ in out for event in batch] + by_pieces.finish()
            assert events == want_events
            assert by_pieces.stats.invalid_lines == want_invalid
            for chunk in chunks:
                by_feed.feed(chunk)
            by_feed.finish()
            assert by_pieces.stats == by_feed.stats
            assert all(nbytes >= 0 for _, nbytes in out)


def test_a_feed_comes_out_in_pieces_of_about_the_piece_size(make_decoder: MakeDecoder) -> None:
    lines = [orjson.dumps({"type": "stream_event", "i": i, "text": "x" * (i % 90)}) for i in range(3000)]
    stream = b"\n".join(lines) + b"\n"
    out = list(make_decoder().feed_pieces(stream, 4096))
    assert [e for batch, _ in out for e in batch] == [orjson.loads(line) for line in lines]
    assert len(out) >= len(stream) // (4096 + 200)
    assert all(nbytes <= 4096 + 200 for _, nbytes in out)
    assert sum(nbytes for _, nbytes in out) == len(stream)


def test_a_bad_line_costs_only_its_own_piece_the_batching(make_decoder: MakeDecoder) -> None:
    good = [orjson.dumps({"n": i}) for i in range(200)]
    lines = [*good[:100], b'{"a":}', *good[100:]]
    out = list(make_decoder().feed_pieces(b"\n".join(lines) + b"\n", 256))
    assert [e for batch, _ in out for e in batch] == [orjson.loads(line) for line in good]


def test_a_big_line_across_feeds_is_one_piece(make_decoder: MakeDecoder) -> None:
    line = orjson.dumps({"type": "user", "text": "y" * 300_000})
    d = make_decoder()
    assert list(d.feed_pieces(line[:100_000], 1 << 14)) == []
    assert list(d.feed_pieces(line[100_000:], 1 << 14)) == []
    out = list(d.feed_pieces(b"\n" + b'{"n":1}\n', 1 << 14))
    assert [e for batch, _ in out for e in batch] == [orjson.loads(line), {"n": 1}]


# ---- the real caps: a line of exactly 10 MiB is kept, one byte more is dropped ------------

_SMALL = [orjson.dumps({"type": "stream_event", "n": i, "text": "é" * (i % 5)}) for i in range(40)]
_AT_CAP = b'{"pad":"' + b"a" * (MAX_LINE_SIZE - 10) + b'"}'
_OVER_CAP = b'{"pad":"' + b"b" * (MAX_LINE_SIZE - 9) + b'"}'
_CAP_STREAM = b"\n".join([*_SMALL[:20], _AT_CAP, b'{"x":', *_SMALL[20:30], _OVER_CAP, b"\xff", *_SMALL[30:]]) + b"\n"


@settings(max_examples=8, deadline=None)
@given(
    piece_size=st.sampled_from([1, 1 << 14]),
    cuts=st.lists(st.integers(0, len(_CAP_STREAM)), max_size=6),
    twin=st.sampled_from(sorted(name for name, cls in TWINS.items() if cls is not None)),
)
def test_default_caps_through_a_reused_buffer(piece_size: int, cuts: list[int], twin: str) -> None:
    """With the default caps (10 MiB per line, 50 MiB pending) and feeds cut anywhere,
    each at most 256 KiB of a reused buffer: the line of exactly the cap is one event,
    the one a byte longer is dropped and counted, and the bad lines are counted."""
    assert len(_AT_CAP) == MAX_LINE_SIZE == len(_OVER_CAP) - 1
    cls = TWINS[twin]
    assert cls is not None
    d = EventDecoder(MAX_LINE_SIZE, MAX_PENDING, framer=cls(MAX_LINE_SIZE, MAX_PENDING))
    chunks = [c[i : i + (256 << 10)] for c in cut(_CAP_STREAM, cuts) for i in range(0, max(len(c), 1), 256 << 10)]
    out = pieces_of(d, chunks, piece_size)
    events = [event for batch, _ in out for event in batch] + d.finish()
    want = [orjson.loads(line) for line in _SMALL[:20]] + [orjson.loads(_AT_CAP)]
    want += [orjson.loads(line) for line in _SMALL[20:]]
    assert events == want
    assert d.stats.oversized_lines == 1 and d.stats.invalid_lines == 2
    assert d.stats.dropped_bytes == len(_OVER_CAP)
    assert sum(nbytes for _, nbytes in out) <= len(_CAP_STREAM)
