"""Trivial models the framer is checked against, and the hypothesis strategies that feed it.

The reference framer works on the whole stream at once, so it cannot depend on
chunking: split on ``\\n``, drop the parts longer than the cap, strip ASCII
whitespace, skip the empty ones; the part after the last ``\\n`` is what
``finish()`` returns. Because a part ended by ``\\n`` never changes as more bytes
arrive, the reference also says exactly what each ``feed()`` returns: the complete
lines of the stream so far, minus those of the stream before that feed.
"""

from __future__ import annotations

import itertools
import re
from typing import NamedTuple

from hypothesis import strategies as st

__all__ = [
    "RefState",
    "caps",
    "cut",
    "cut_points",
    "lines_of_segments",
    "model_single_object",
    "reference_lines",
    "reference_state",
    "streams",
]


class RefState(NamedTuple):
    """What a framer must report after it has been fed ``prefix`` (and maybe finished)."""

    lines: list[bytes]
    """Every line returned so far, in order."""
    stats: tuple[int, int, int, int]
    """(lines, oversized_lines, dropped_bytes, pending)."""


def reference_state(prefix: bytes, cap: int, *, finished: bool = False) -> RefState:
    """The reference framer's output and counters after ``prefix`` (then ``finish()``)."""
    *complete, last = prefix.split(b"\n")
    kept = [part.strip() for part in complete if len(part) <= cap]
    lines = [line for line in kept if line]
    over = [part for part in complete if len(part) > cap]
    oversized = len(over)
    dropped = sum(map(len, over))
    pending = len(last) if len(last) <= cap else 0
    if len(last) > cap:
        dropped += len(last)  # counted as soon as the partial line crosses the cap
    if finished:
        if len(last) > cap:
            oversized += 1
        elif last.strip():
            lines.append(last.strip())
        pending = 0
    return RefState(lines, (len(lines), oversized, dropped, pending))


def reference_lines(stream: bytes, cap: int) -> list[bytes]:
    """Every line of a whole stream, including the unterminated last one."""
    return reference_state(stream, cap, finished=True).lines


# A JSON string as the C scanner sees it: a backslash escapes any next byte.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def model_single_object(line: bytes) -> bool:
    """True if ``line`` is exactly one JSON object as far as strings and brackets go.

    Strings are blanked out first; a quote left over means one never closed. Then
    the brackets (of either kind) must first close at the line's last byte.
    """
    if not (line.startswith(b"{") and line.endswith(b"}")) or len(line) < 2:
        return False
    skeleton = _STRING.sub(b"0", line)
    if b'"' in skeleton:
        return False
    depth = 0
    for i, byte in enumerate(skeleton):
        if byte in b"{[":
            depth += 1
        elif byte in b"}]":
            depth -= 1
            if depth < 0 or (depth == 0 and i != len(skeleton) - 1):
                return False
    return depth == 0


def lines_of_segments(segments: list[tuple[bytes | memoryview, int]]) -> list[bytes]:
    """Split ``feed_segments`` output back into lines; check each array's count on the way."""
    lines: list[bytes] = []
    for text, count in segments:
        raw = bytes(text)
        if count:
            assert raw.startswith(b"[") and raw.endswith(b"]"), raw[:40]
            parts = raw[1:-1].split(b"\n,")
            assert len(parts) == count, (count, raw[:200])
            lines += parts
        else:
            lines.append(raw)
    return lines


def cut(stream: bytes, points: list[int]) -> list[bytes]:
    """Cut ``stream`` at ``points`` (any order, repeats allowed: they give empty chunks)."""
    bounds = [0, *sorted(points), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


# ---- strategies -----------------------------------------------------------------

# Bytes that matter to a framer or to the JSON object check, plus invalid UTF-8.
_TOKENS = [
    b"\n", b"\r\n", b"\r", b" ", b"\t", b"\x0b", b"\x0c", b"\x00",
    b"{", b"}", b"[", b"]", b'"', b"\\", b",", b":", b"a", b"\xff", b"\xc3", b"\xe2\x82", b"\xc3\xa9",
    b'{"a":1}', b'{"s":"x\\"}"}', b'{"a":1},{"b":2}', b"null", b"[1]",
]  # fmt: skip

caps = st.one_of(st.integers(1, 4), st.integers(5, 40))
"""Line caps: tiny ones most of all, where every rule bites."""


def _line_of(length: int) -> st.SearchStrategy[bytes]:
    body = st.binary(min_size=length, max_size=length).map(lambda b: b.replace(b"\n", b"x"))
    return st.tuples(body, st.sampled_from([b"\n", b"\r\n", b""])).map(b"".join)


@st.composite
def streams(draw: st.DrawFn, cap: int) -> bytes:
    """A stream built from framing tokens, random bytes and lines at, below and past ``cap``."""
    piece = st.one_of(
        st.sampled_from(_TOKENS),
        st.binary(max_size=12),
        _line_of(cap),
        _line_of(cap + 1),
        _line_of(max(cap - 1, 0)),
        st.integers(0, 3 * cap + 2).flatmap(_line_of),
    )
    return b"".join(draw(st.lists(piece, max_size=24)))


def cut_points(data: st.DataObject, stream: bytes) -> list[int]:
    """Draw where to cut ``stream`` into feeds (repeats give empty feeds)."""
    return data.draw(st.lists(st.integers(0, len(stream)), max_size=max(len(stream), 1)), label="cuts")
