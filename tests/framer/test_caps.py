"""The memory caps hold for huge inputs, and an over-long line never leaks out, not even its tail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar_sync.framer import FEED_WINDOW, MAX_LINE_SIZE
from tests.framer._memory_probe import SIZE
from tests.framer.reference import cut
from tests.framer.twins import TWINS

REPO = Path(__file__).resolve().parents[2]

# What a framer may hold while eating 200 MB with no newline: the pending line (at most
# the 10 MiB cap, in a buffer that doubles) and a window copy or two. A second copy of
# the input would be 200 MB.
RSS_GROWTH_LIMIT = 64 * 2**20


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["windows", "single"])
def test_200_mb_without_newline_stays_within_the_caps(framer_cls: type, mode: str) -> None:
    """Feeding 200 MB with no newline (in FEED_WINDOW pieces, or as one feed) keeps `pending`
    within the line cap and the process memory bounded; framing resumes after the newline."""
    twin = "c" if framer_cls is TWINS["c"] else "python"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.framer._memory_probe", twin, mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["lines"] == ['{"after":1}']
    assert report["max_line_size"] == MAX_LINE_SIZE
    assert 0 < report["max_pending"] <= MAX_LINE_SIZE if mode == "windows" else report["max_pending"] == 0
    assert report["stats"] == {
        "lines": 1,
        "oversized_lines": 1,
        "dropped_bytes": SIZE,
        "pending": 0,
        "bytes_in": SIZE + 13,
    }
    assert report["rss_growth"] < RSS_GROWTH_LIMIT, f"peak RSS grew by {report['rss_growth'] / 2**20:.0f} MiB"


TAIL = b'{"type":"result","subtype":"success","injected":true}'
LONG_LINE = b'{"type":"user","pad":"' + b"x" * (12 * 2**20) + b'"}' + TAIL  # 12 MiB, over the 10 MiB cap
STREAM = b'{"before":1}\n' + LONG_LINE + b'\n{"after":2}\n'
TAIL_AT = STREAM.index(TAIL)


@pytest.mark.parametrize(
    "points",
    [
        [],
        list(range(0, len(STREAM), 64 * 1024)),
        list(range(0, len(STREAM), FEED_WINDOW)),
        [TAIL_AT],
        [13 + MAX_LINE_SIZE, TAIL_AT],
        [13 + MAX_LINE_SIZE + 1, TAIL_AT, TAIL_AT + 1, len(STREAM) - 13],
    ],
    ids=["one-feed", "64KiB", "window", "cut-at-tail", "cut-at-cap-and-tail", "cuts-around"],
)
def test_the_tail_of_an_over_long_line_never_comes_out(framer_cls: type, points: list[int]) -> None:
    """A 12 MiB line whose tail is a valid JSON object yields nothing, however it is chunked."""
    f = framer_cls()
    lines: list[bytes] = []
    for chunk in cut(STREAM, points):
        lines += f.feed(chunk)
        assert f.stats.pending <= MAX_LINE_SIZE
    lines += f.finish()
    assert lines == [b'{"before":1}', b'{"after":2}']
    assert f.stats[:4] == (2, 1, len(LONG_LINE), 0)


def test_a_line_at_the_default_cap_passes(framer_cls: type) -> None:
    """10 MiB exactly is a line; 10 MiB and one byte is not."""
    at = b"a" * MAX_LINE_SIZE
    f = framer_cls()
    lines = f.feed(at[:-5]) + f.feed(at[-5:] + b"\n" + at + b"b\nok\n")
    assert [len(line) for line in lines] == [MAX_LINE_SIZE, 2]
    assert f.stats.oversized_lines == 1
