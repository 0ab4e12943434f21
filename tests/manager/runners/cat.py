"""Writes a file to stdout in writes of given sizes: ``python cat.py PATH SIZE[,SIZE...]``.

Standard library only. Prints ``ready``; on the first query line, ``agent_started``, the
file's bytes in ``os.write`` calls of the listed sizes (cycled, each write completed),
then ``agent_stopped``; then waits for ``stop`` or end of stdin and exits 0.
"""

from __future__ import annotations

import itertools
import os
import sys


def write(data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def main() -> None:
    path, sizes = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
    write(b'{"type":"ready"}\n')
    stdin = os.fdopen(0, "rb")
    if not stdin.readline():
        return
    write(b'{"type":"agent_started"}\n')
    with open(path, "rb") as f:
        data = memoryview(f.read())
    at = 0
    for size in itertools.cycle(sizes):
        if at >= len(data):
            break
        write(data[at : at + size])
        at += size
    write(b'{"type":"agent_stopped"}\n')
    for line in stdin:
        if b'"stop"' in line:
            break


if __name__ == "__main__":
    main()
