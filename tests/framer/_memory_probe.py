"""Feed 200 MB with no newline to one framer and report what it held (run as a subprocess).

Usage: ``python -m tests.framer._memory_probe {c|python} {single|windows}``. Prints one
JSON object: the lines returned, the final counters, the largest ``pending`` seen
after any feed, and how much the process's peak RSS grew while feeding.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sidecar_sync import framer
from tests.framer.twins import TWINS

SIZE = 200 * 10**6


def peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(twin: str, mode: str) -> None:
    cls = TWINS[twin]
    assert cls is not None, f"the {twin} framer is not built"
    data = b"x" * SIZE  # written, so it is resident before the baseline is taken
    f = cls()
    baseline = peak_rss_bytes()
    lines: list[bytes] = []
    max_pending = 0
    if mode == "single":
        lines += f.feed(data)
        max_pending = f.stats.pending
    else:
        view = memoryview(data)
        for start in range(0, SIZE, framer.FEED_WINDOW):
            lines += f.feed(view[start : start + framer.FEED_WINDOW])
            max_pending = max(max_pending, f.stats.pending)
    lines += f.feed(b'\n{"after":1}\n')
    lines += f.finish()
    print(
        json.dumps(
            {
                "lines": [line.decode() for line in lines],
                "stats": f.stats._asdict(),
                "max_pending": max_pending,
                "max_line_size": f.max_line_size,
                "rss_growth": peak_rss_bytes() - baseline,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
