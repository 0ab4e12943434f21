"""EventDecoder: bytes in, JSON objects out; anything else is counted, logged and skipped."""

from __future__ import annotations

import contextlib
import logging

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar_sync import framer as framer_module
from sidecar_sync.decoder import INVALID_LOG_LIMIT, DecoderStats, EventDecoder
from sidecar_sync.framer import MAX_LINE_SIZE
from tests.decoder.conftest import MakeDecoder
from tests.framer.reference import cut, cut_points, reference_lines
from tests.framer.twins import TWINS, patch_everywhere


def decode_all(decoder: EventDecoder, *chunks: bytes) -> list[dict]:
    events: list[dict] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.finish()


def reference_decode(stream: bytes, cap: int = MAX_LINE_SIZE) -> tuple[list[dict], int]:
    """Events and invalid-line count of the whole stream, one line at a time."""
    events, invalid = [], 0
    for line in reference_lines(stream, cap):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            invalid += 1
            continue
        if type(value) is dict:
            events.append(value)
        else:
            invalid += 1
    return events, invalid


def test_objects_across_chunks(make_decoder: MakeDecoder) -> None:
    d = make_decoder()
    assert d.feed(b'{"type":"a"}\n{"type":') == [{"type": "a"}]
    assert d.feed(b'"b"}\r\n  \n{"n":[1,2]}\n') == [{"type": "b"}, {"n": [1, 2]}]
    assert d.feed(b'{"last":true}') == []
    assert d.finish() == [{"last": True}]
    assert d.stats == DecoderStats(lines=4, events=4, invalid_lines=0, oversized_lines=0, dropped_bytes=0, pending=0)
    assert d.last_invalid_reason is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b'{"a":}', "not valid JSON"),
        (b'{"a":1', "not valid JSON"),
        (b'{"a":"\xff"}', "not valid JSON or UTF-8"),
        (b"\xc3(", "not valid JSON or UTF-8"),
        (b"null", "JSON NoneType where an object"),
        (b"42", "JSON int where an object"),
        (b"1.5", "JSON float where an object"),
        (b"[1,2]", "JSON list where an object"),
        (b"[{}]", "JSON list where an object"),
        (b'"text"', "JSON str where an object"),
        (b"true", "JSON bool where an object"),
    ],
)
def test_a_bad_line_is_counted_logged_and_skipped(
    make_decoder: MakeDecoder, caplog: pytest.LogCaptureFixture, line: bytes, reason: str
) -> None:
    """The lines around a bad one survive, whether the bad one is first, inside a batch, or last."""
    d = make_decoder(label="sess-1")
    with caplog.at_level(logging.WARNING, logger="sidecar_sync"):
        events = decode_all(d, b'{"i":1}\n{"i":2}\n' + line + b'\n{"i":3}\n{"i":4}\n' + line)
    assert events == [{"i": 1}, {"i": 2}, {"i": 3}, {"i": 4}]
    assert d.invalid_lines == 2 and d.stats.invalid_lines == 2 and d.stats.events == 4
    assert d.last_invalid_reason is not None and reason in d.last_invalid_reason
    messages = [r.getMessage() for r in caplog.records if r.name == "sidecar_sync.decoder"]
    assert len(messages) == 2 and all("sess-1: skipped invalid line" in m for m in messages)


def test_mis_split_lines_are_three_invalid_lines_not_events(make_decoder: MakeDecoder) -> None:
    """Lines that would form valid JSON if glued together are never glued: each is invalid alone."""
    d = make_decoder()
    stream = b'{"ok":1}\n{"x":"}\n{","y":1}\n{"a":1},{"b":2}\n{"ok":2}\n'
    assert decode_all(d, stream) == [{"ok": 1}, {"ok": 2}]
    assert d.stats.invalid_lines == 3 and d.stats.lines == 5


def test_a_batch_with_one_bad_object_keeps_the_good_ones(make_decoder: MakeDecoder) -> None:
    """A structurally fine but invalid object fails its batch; the batch is re-read line by line."""
    d = make_decoder()
    assert d.feed(b'{"a":1}\n{"b":}\n{"c":3}\n{"d":"\xff"}\n{"e":5}\n') == [{"a": 1}, {"c": 3}, {"e": 5}]
    assert d.stats.invalid_lines == 2 and d.stats.events == 3


@pytest.mark.parametrize("size", [65536 - 1, 65536, 65536 + 1, 3 * 2**20])
def test_big_lines_decode(make_decoder: MakeDecoder, size: int) -> None:
    """Lines around the batching limit and far beyond it decode the same way."""
    big = orjson.dumps({"pad": "x" * (size - 10)})
    big = big[:-2] + b"y" * (size - len(big)) + big[-2:]
    assert len(big) == size
    d = make_decoder()
    chunks = cut(b'{"s":1}\n' + big + b'\n{"s":2}\n', [3, 100, size // 2])
    assert decode_all(d, *chunks) == [{"s": 1}, orjson.loads(big), {"s": 2}]


def test_an_over_long_line_yields_no_event_even_from_its_tail(make_decoder: MakeDecoder) -> None:
    tail = b'{"type":"result","injected":true}'
    long_line = b'{"pad":"' + b"x" * (200 - len(tail)) + b'"}' + tail
    stream = b'{"before":1}\n' + long_line + b'\n{"after":2}\n'
    d = make_decoder(max_line_size=100, max_pending=100)
    at = stream.index(tail)
    assert decode_all(d, *cut(stream, [at, at + 1])) == [{"before": 1}, {"after": 2}]
    assert d.stats.oversized_lines == 1 and d.stats.dropped_bytes == len(long_line)
    assert d.stats.invalid_lines == 0


def test_counters(make_decoder: MakeDecoder) -> None:
    d = make_decoder(max_line_size=20, max_pending=30)
    d.feed(b'{"a":1}\n[]\n' + b"z" * 25 + b'\n\n  \n{"b":2}\n{"partial":')
    assert d.stats == DecoderStats(lines=3, events=2, invalid_lines=1, oversized_lines=1, dropped_bytes=25, pending=11)
    assert d.finish() == []  # '{"partial":' is not JSON
    assert d.stats == DecoderStats(lines=4, events=2, invalid_lines=2, oversized_lines=1, dropped_bytes=25, pending=0)


def test_invalid_lines_are_logged_at_warning_up_to_the_limit(
    make_decoder: MakeDecoder, caplog: pytest.LogCaptureFixture
) -> None:
    d = make_decoder()
    with caplog.at_level(logging.DEBUG, logger="sidecar_sync"):
        d.feed(b"junk\n" * (INVALID_LOG_LIMIT + 5))
    records = [r for r in caplog.records if r.name == "sidecar_sync.decoder"]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == INVALID_LOG_LIMIT + 1  # plus the one saying further lines go to DEBUG
    assert "logging further ones at DEBUG" in warnings[-1].getMessage()
    assert len([r for r in records if r.levelno == logging.DEBUG]) == 5
    assert d.invalid_lines == INVALID_LOG_LIMIT + 5


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_any_byte_buffer(make_decoder: MakeDecoder, kind: type) -> None:
    assert make_decoder().feed(kind(b'{"a":1}\n{"b":2}\n')) == [{"a": 1}, {"b": 2}]


def test_a_feed_larger_than_the_window(make_decoder: MakeDecoder) -> None:
    """A feed bigger than FEED_WINDOW decodes in windows, with no line lost at their seams."""
    line = orjson.dumps({"type": "stream_event", "text": "0123456789" * 20})
    stream = (line + b"\n") * (framer_module.FEED_WINDOW // len(line) * 2 + 7)
    events = make_decoder().feed(stream)
    assert len(events) == stream.count(b"\n") and events[-1] == orjson.loads(line)


def test_the_default_decoder_uses_the_selected_framer() -> None:
    assert type(EventDecoder()._framer) is framer_module.LineFramer


# ---- C and Python agree, and both agree with line-by-line decoding ---------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
object_lines = st.dictionaries(st.text(max_size=5), json_values, max_size=4).map(lambda d: orjson.dumps(d) + b"\n")
junk_lines = st.sampled_from(
    [b"null\n", b"[1]\n", b"7\n", b'"s"\n', b"{\n", b'{"x":"}\n', b'{","y":1}\n', b'{"a":1},{"b":2}\n',
     b'{"a":}\n', b'{"u":"\xff"}\n', b"\xff\n", b"\r\n", b"  \n", b'{"s":"\\\\"}\n', b'{"s":"\\"}\n']
)  # fmt: skip
pieces = st.one_of(object_lines, object_lines, junk_lines, st.binary(max_size=6))


@given(cap=st.sampled_from([8, 40, MAX_LINE_SIZE]), window=st.sampled_from([5, 64, None]), data=st.data())
def test_twins_decode_like_the_reference(cap: int, window: int | None, data: st.DataObject) -> None:
    """For any stream and chunking (and window size), both decoders return the events of
    decoding each reference line alone, and count the same invalid lines."""
    stream = b"".join(data.draw(st.lists(pieces, max_size=25), label="pieces"))
    chunks = cut(stream, cut_points(data, stream))
    want_events, want_invalid = reference_decode(stream, cap)
    twins = [cls for cls in TWINS.values() if cls is not None]
    results = []
    with patch_everywhere("FEED_WINDOW", window) if window else contextlib.nullcontext():
        for cls in twins:
            d = EventDecoder(cap, cap, framer=cls(cap, cap))
            events = decode_all(d, *chunks)
            assert events == want_events
            assert d.stats.invalid_lines == want_invalid
            results.append(d.stats)
    assert all(stats == results[0] for stats in results)
