"""Reference row for bench/peers.py: ``orjson.loads`` alone, no process, no pipe.

Reads the transcript into memory, then times (a) ``orjson.loads`` on every line and
(b) each ~64 KiB run of lines (what one pipe read holds) joined with commas and parsed as one JSON array, the
batched form the C framer offers. Each pass is repeated ``$SIDECAR_BENCH_REPEAT``
times so the work equals what a supervised run parses. Prints ``@@RESULT {json}``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import orjson


def main() -> int:
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    repeat = int(os.environ.get("SIDECAR_BENCH_REPEAT", "1"))
    lines = data.splitlines()
    batches: list[bytes] = []
    run: list[bytes] = []
    size = 0
    for line in lines:
        run.append(line)
        size += len(line)
        if size >= 64 << 10:
            batches.append(b"[" + b",".join(run) + b"]")
            run, size = [], 0
    if run:
        batches.append(b"[" + b",".join(run) + b"]")
    loads = orjson.loads
    t = time.perf_counter()
    for _ in range(repeat):
        for line in lines:
            loads(line)
    per_line = time.perf_counter() - t
    t = time.perf_counter()
    n = 0
    for _ in range(repeat):
        for batch in batches:
            n += len(loads(batch))
    array = time.perf_counter() - t
    assert n == len(lines) * repeat
    print("@@RESULT " + json.dumps({"lines": len(lines) * repeat, "bytes": len(data) * repeat,
                                    "per_line_s": per_line, "array_s": array}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
