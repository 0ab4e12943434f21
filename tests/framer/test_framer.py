"""Behaviour of one framer, case by case, on both twins (the ``framer_cls`` fixture)."""

from __future__ import annotations

import array
import queue
import sys
import threading
from collections.abc import Iterator

import pytest

from sidecar_sync import framer as framer_module
from sidecar_sync._framing import windows
from sidecar_sync.errors import FramerBusyError, FramerError, SidecarError
from sidecar_sync.framer import FEED_WINDOW, MAX_LINE_SIZE, MAX_PENDING, Buffer, FramerStats
from tests.framer.reference import lines_of_segments
from tests.framer.twins import patch_everywhere


def feed_all(framer: object, *chunks: bytes) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out += framer.feed(chunk)  # type: ignore[attr-defined]
    return out + framer.finish()  # type: ignore[attr-defined]


# ---- framing rules ----------------------------------------------------------------


def test_lines_are_trimmed_and_blank_lines_skipped(framer_cls: type) -> None:
    """ASCII whitespace around a line goes (a trailing \\r too); blank lines give nothing."""
    f = framer_cls()
    stream = b' {"a":1}\r\n\r\n \t \n\x0b\x0c\n  x y  \n'
    assert f.feed(stream) == [b'{"a":1}', b"x y"]
    assert f.stats == FramerStats(lines=2, oversized_lines=0, dropped_bytes=0, pending=0, bytes_in=len(stream))


def test_a_stream_without_a_newline_comes_out_at_finish(framer_cls: type) -> None:
    """With no newline at all, the whole stream is one line, returned by finish()."""
    f = framer_cls(100, 100)
    assert f.feed(b'{"no":') == []
    assert f.feed(b'"newline"}  ') == []
    assert f.stats.pending == 18
    assert f.finish() == [b'{"no":"newline"}']
    assert f.stats.pending == 0


@pytest.mark.parametrize("split", range(1, 7))
def test_crlf_split_across_feeds(framer_cls: type, split: int) -> None:
    """A \\r\\n cut anywhere, even between \\r and \\n, ends the line the same way."""
    stream = b"ab\r\ncd\r\n"
    assert feed_all(framer_cls(), stream[:split], stream[split:]) == [b"ab", b"cd"]


def test_lines_are_bytes_and_invalid_utf8_passes_through(framer_cls: type) -> None:
    """The framer is bytes in, bytes out: it never decodes."""
    lines = framer_cls().feed(b"\xff\xfe\x00bad\xc3\n\xe2\x82\xac\n")
    assert lines == [b"\xff\xfe\x00bad\xc3", b"\xe2\x82\xac"]
    assert all(type(line) is bytes for line in lines)


@pytest.mark.parametrize("cap", [1, 2, 5])
def test_a_line_exactly_at_the_cap_is_kept_and_one_past_it_dropped(framer_cls: type, cap: int) -> None:
    """The cap counts raw bytes without the \\n: ``cap`` bytes pass, ``cap + 1`` do not."""
    at, past = b"a" * cap, b"b" * (cap + 1)
    f = framer_cls(cap, cap)
    assert f.feed(at + b"\n" + past + b"\n" + at + b"\n") == [at, at]
    assert f.stats[:4] == (2, 1, cap + 1, 0)


def test_the_cap_counts_a_trailing_cr(framer_cls: type) -> None:
    """A \\r before the \\n counts toward the cap, since the cap is on raw bytes."""
    f = framer_cls(3, 3)
    assert f.feed(b"abc\r\nabc\n") == [b"abc"]
    assert f.stats.oversized_lines == 1


def test_at_the_cap_held_across_feeds(framer_cls: type) -> None:
    """A partial line exactly at the cap waits for its \\n; one more byte drops it."""
    f = framer_cls(4, 4)
    assert f.feed(b"abcd") == []
    assert f.stats.pending == 4
    assert f.feed(b"\n") == [b"abcd"]
    assert f.feed(b"abcd") == []
    assert f.feed(b"e") == []
    assert f.stats.pending == 0
    assert f.feed(b"fgh\nok\n") == [b"ok"]
    assert f.stats[:4] == (2, 1, 8, 0)


def test_an_over_long_line_is_dropped_whole_and_framing_resumes(framer_cls: type) -> None:
    """No prefix and no tail of a line over the cap comes out; the next line does."""
    f = framer_cls(12, 12)
    tail = b'{"t":1}'
    assert f.feed(b"first\n" + b"X" * 13) == [b"first"]
    assert f.feed(tail) == []  # the tail of the over-long line
    assert f.feed(b'\n{"next":2}\n') == [b'{"next":2}']
    assert f.stats[:4] == (2, 1, 13 + len(tail), 0)


def test_an_unterminated_over_long_line_is_counted_at_finish(framer_cls: type) -> None:
    f = framer_cls(3, 3)
    assert f.feed(b"abcdef") == []
    assert f.stats[:4] == (0, 0, 6, 0)
    assert f.finish() == []
    assert f.stats[:4] == (0, 1, 6, 0)


def test_finish_twice_and_reuse_after_finish(framer_cls: type) -> None:
    """finish() ends a stream; a second finish() is empty; a new stream can follow."""
    f = framer_cls(10, 10)
    assert f.finish() == []
    assert f.feed(b"one\ntw") == [b"one"]
    assert f.finish() == [b"tw"]
    assert f.finish() == []
    assert f.feed(b"o\nthree") == [b"o"]  # "tw" does not come back: it ended with its stream
    assert f.finish() == [b"three"]
    assert f.stats[:4] == (4, 0, 0, 0)


def test_finish_after_over_long_ends_the_discard(framer_cls: type) -> None:
    """A stream that ended inside an over-long line does not swallow the next stream's first line."""
    f = framer_cls(3, 3)
    f.feed(b"toolong")
    assert f.finish() == []
    assert f.feed(b"ok\n") == [b"ok"]


def test_empty_feeds_change_nothing(framer_cls: type) -> None:
    f = framer_cls()
    assert f.feed(b"") == []
    assert f.feed(b"a") == []
    assert f.feed(b"") == []
    assert f.feed(b"\n") == [b"a"]
    assert f.feed_segments(b"") == []


# ---- input types --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [bytes, bytearray, memoryview, lambda b: memoryview(bytearray(b)), lambda b: memoryview(b"__" + b)[2:]],
    ids=["bytes", "bytearray", "memoryview", "memoryview-of-bytearray", "sliced-memoryview"],
)
def test_feed_takes_any_byte_buffer(framer_cls: type, make: object) -> None:
    f = framer_cls()
    assert f.feed(make(b"x\r\ny\nz")) == [b"x", b"y"]  # type: ignore[operator]
    assert f.finish() == [b"z"]
    assert lines_of_segments(f.feed_segments(make(b"{}\r\ny\nz"))) == [b"{}", b"y"]  # type: ignore[operator]


def test_feed_takes_a_strided_and_a_typed_memoryview(framer_cls: type) -> None:
    """Non-contiguous and non-byte views are framed by their raw bytes."""
    f = framer_cls()
    assert f.feed(memoryview(b"aXbX\nX")[::2]) == [b"ab"]
    raw = array.array("H", [0x0A61, 0x0A62])  # little-endian: b"a\nb\n"
    assert f.feed(memoryview(raw)) == ([b"a", b"b"] if sys.byteorder == "little" else [])


@pytest.mark.parametrize("bad", ["text\n", 10, None, [b"a"]], ids=["str", "int", "None", "list"])
def test_feed_rejects_non_bytes(framer_cls: type, bad: object) -> None:
    f = framer_cls()
    with pytest.raises(TypeError, match="bytes"):
        f.feed(bad)
    with pytest.raises(TypeError, match="bytes"):
        f.feed_segments(bad)
    assert f.stats.bytes_in == 0


def test_feed_segments_refuses_more_than_a_window(framer_cls: type) -> None:
    """The batch form works on one window at a time; feed() accepts any size."""
    f = framer_cls()
    with pytest.raises(FramerError, match="at most"):
        f.feed_segments(b"x" * (FEED_WINDOW + 1))
    assert f.stats.bytes_in == 0
    assert f.feed_segments(b'{"a":1}\n') in ([(b'[{"a":1}]', 1)], [(b'{"a":1}', 0)])


# ---- limits ---------------------------------------------------------------------------


def test_default_limits(framer_cls: type) -> None:
    f = framer_cls()
    assert (f.max_line_size, f.max_pending) == (MAX_LINE_SIZE, MAX_PENDING) == (10 * 2**20, 50 * 2**20)


@pytest.mark.parametrize(
    ("max_line_size", "max_pending"),
    [(0, 10), (10, 0), (-1, 10), (1.5, 10), ("10", 10), (None, 10), (True, 10), (10, 9), (2**64, 2**64), (5, 10.0)],
)
def test_invalid_limits_are_refused(framer_cls: type, max_line_size: object, max_pending: object) -> None:
    with pytest.raises(FramerError) as info:
        framer_cls(max_line_size, max_pending)
    assert isinstance(info.value, (SidecarError, ValueError))


def test_limits_may_be_equal(framer_cls: type) -> None:
    assert framer_cls(1, 1).feed(b"a\nbb\nc\n") == [b"a", b"c"]


# ---- one thread at a time ---------------------------------------------------------------


class _Paused:
    """Makes the next feed of any framer stop inside its lock until released.

    Both twins build the windows of a feed before taking the lock and iterate them
    under it, so a paused window generator holds a real feed inside the lock.
    """

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()

        def paused_windows(data: Buffer) -> Iterator[bytes]:
            self.inside.set()
            assert self.release.wait(10), "the test never released the paused feed"
            yield from windows(data)

        self.patch = patch_everywhere("windows", paused_windows)


@pytest.mark.parametrize("second", ["feed", "feed_segments", "finish"])
def test_a_second_thread_gets_framer_busy(framer_cls: type, second: str) -> None:
    """While one thread is inside feed(), another call raises FramerBusyError and changes nothing."""
    f = framer_cls()
    paused = _Paused()
    results: queue.Queue[object] = queue.Queue()
    with paused.patch:
        # a bytearray takes the windowed path in both twins
        worker = threading.Thread(target=lambda: results.put(f.feed(bytearray(b"a\nb"))), name="framer-first-feeder")
        worker.start()
        assert paused.inside.wait(10)
        with pytest.raises(FramerBusyError, match="two threads"):
            getattr(f, second)(*([] if second == "finish" else [b"c\n"]))
        paused.release.set()
        worker.join(10)
    assert not worker.is_alive()
    assert results.get_nowait() == [b"a"]
    assert f.feed(b"\n") == [b"b"]  # the refused call lost nothing and added nothing
    assert f.stats.bytes_in == 4


def test_busy_when_the_lock_is_held(framer_cls: type) -> None:
    """Any call made while the framer's lock is held is refused, from any thread."""
    f = framer_cls()
    errors: queue.Queue[BaseException] = queue.Queue()

    def call_all() -> None:
        for call in (lambda: f.feed(b"x\n"), lambda: f.feed_segments(b"x\n"), f.finish):
            try:
                call()
            except BaseException as exc:  # noqa: BLE001 - collected and checked below
                errors.put(exc)

    with f._lock:
        thread = threading.Thread(target=call_all, name="framer-busy-caller")
        thread.start()
        thread.join(10)
    assert not thread.is_alive()
    caught = [errors.get_nowait() for _ in range(errors.qsize())]
    assert len(caught) == 3 and all(isinstance(e, FramerBusyError) for e in caught)
    assert f.feed(b"x\n") == [b"x"]


def test_stats_during_a_feed_neither_waits_for_it_nor_fails_it(framer_cls: type) -> None:
    """stats may be read from another thread while a feed is in progress (a session's
    snapshot does): it answers at once, and the feed is not refused."""
    f = framer_cls()
    paused = _Paused()
    lines: queue.Queue[list[bytes]] = queue.Queue()
    with paused.patch:
        feeder = threading.Thread(target=lambda: lines.put(f.feed(bytearray(b"a\nb"))), name="framer-paused-feeder")
        feeder.start()
        assert paused.inside.wait(10)
        assert f.stats == FramerStats(lines=0, oversized_lines=0, dropped_bytes=0, pending=0, bytes_in=0)
        paused.release.set()
        feeder.join(10)
    assert not feeder.is_alive()
    assert lines.get(timeout=10) == [b"a"]
    assert f.stats == FramerStats(lines=1, oversized_lines=0, dropped_bytes=0, pending=1, bytes_in=3)


@pytest.mark.parametrize("form", ["feed", "feed_segments"])
def test_stats_read_in_a_loop_never_fails_a_feed(framer_cls: type, form: str) -> None:
    """A thread that reads stats as fast as it can while another feeds: every feed succeeds,
    every snapshot is one the framer passed through (bytes_in never goes back)."""
    f = framer_cls()
    chunk = b'{"type":"stream_event","n":1}\n' * 300
    rounds = 300
    done = threading.Event()
    failures: queue.Queue[BaseException] = queue.Queue()
    seen: list[FramerStats] = []

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(f.stats)
        except BaseException as exc:  # noqa: BLE001 - collected and checked below
            failures.put(exc)

    reader = threading.Thread(target=read, name="framer-stats-reader")
    reader.start()
    try:
        feed = getattr(f, form)
        outputs = [feed(chunk) for _ in range(rounds)]
    finally:
        done.set()
        reader.join(10)
    assert not reader.is_alive() and failures.empty()
    assert all(len(lines_of_segments(out) if form == "feed_segments" else out) == 300 for out in outputs)
    assert f.stats == FramerStats(300 * rounds, 0, 0, 0, len(chunk) * rounds)
    assert [s.bytes_in for s in seen] == sorted(s.bytes_in for s in seen)
    assert all(s.bytes_in % len(chunk) == 0 and s.lines <= 300 * s.bytes_in // len(chunk) for s in seen)


def test_limits_are_read_only(framer_cls: type) -> None:
    """The limits are fixed at creation (C never sees a later change, so neither twin allows one)."""
    f = framer_cls(10, 20)
    for name in ("max_line_size", "max_pending"):
        with pytest.raises(AttributeError):
            setattr(f, name, 5)
    assert (f.max_line_size, f.max_pending) == (10, 20)


def test_framers_are_independent(framer_cls: type) -> None:
    a, b = framer_cls(4, 4), framer_cls(4, 4)
    assert a.feed(b"12") == b.feed(b"abcdef") == []
    assert a.feed(b"\n") == [b"12"]
    assert b.feed(b"\nok\n") == [b"ok"]


def test_twins_share_the_module_constants() -> None:
    assert framer_module.BACKEND in ("c", "python")
    expected = framer_module.PyLineFramer if framer_module.BACKEND == "python" else framer_module.CLineFramer
    assert framer_module.LineFramer is expected
