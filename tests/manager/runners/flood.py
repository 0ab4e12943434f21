"""Floods stdout with valid protocol lines at full speed: ``python flood.py bytes=N line=L``.

On the first query: ``agent_started``, then whole lines of about ``L`` bytes (each an
``agent_event`` wrapping a Claude ``assistant`` text event) until at least ``N`` bytes
are written, written as pre-built 1 MiB blocks; then ``agent_stopped``, and a bare
``{"type":"flood_total","lines":..}`` event naming how many lines it wrote; exit 0.
"""

from __future__ import annotations

import json
import os
import sys

ARGS = dict(arg.split("=", 1) for arg in sys.argv[1:])
TOTAL = int(ARGS.get("bytes", str(2**30)))
LINE = int(ARGS.get("line", "1024"))


def write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def main() -> None:
    write(b'{"type":"ready"}\n')
    if not os.read(0, 65536):
        return
    head = b'{"type":"agent_event","event":{"type":"assistant","message":{"content":[{"type":"text","text":"'
    tail = b'"}]}}}\n'
    line = head + b"x" * max(1, LINE - len(head) - len(tail)) + tail
    per_block = max(1, 2**20 // len(line))
    block = line * per_block
    lines = written = 0
    write(b'{"type":"agent_started"}\n')
    while written < TOTAL:
        write(block)
        written += len(block)
        lines += per_block
    write(b'{"type":"agent_stopped"}\n' + json.dumps({"type": "flood_total", "lines": lines}).encode() + b"\n")


if __name__ == "__main__":
    main()
