"""Bench runner: ``python bench/manager_emitter.py FILE``.

Speaks just enough of the protocol: ``ready`` at start; on the first query
``agent_started``, the whole of FILE (pre-wrapped ``agent_event`` lines) copied to stdout
with ``sendfile(2)`` (no Python per line, so the reader is what gets measured), then
``agent_stopped``; exits 0 on ``stop`` or stdin EOF.
"""

from __future__ import annotations

import os
import sys


def write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def main() -> None:
    path = sys.argv[1]
    write(b'{"type":"ready"}\n')
    pending = b""
    answered = False
    while True:
        data = os.read(0, 65536)
        if not data:
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if b'"stop"' in line:
                return
            if b'"query"' in line and not answered:
                answered = True
                write(b'{"type":"agent_started"}\n')
                with open(path, "rb") as f:
                    size, offset = os.fstat(f.fileno()).st_size, 0
                    while offset < size:
                        offset += os.sendfile(1, f.fileno(), offset, size - offset)
                write(b'{"type":"agent_stopped"}\n')


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
