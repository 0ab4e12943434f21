"""A runner that prints a file of lines as its answer: ``python lines.py FILE``.

Standard library only. On its first ``query`` it writes FILE to stdout as it is (the
file holds whatever the test wants: provider events, envelopes, control lines), in
one go, so the session reads it in reads and pieces of its own choosing. Then it reads
stdin until ``stop`` or EOF and exits 0.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    data = open(sys.argv[1], "rb").read()  # noqa: SIM115 - read once, closed at exit
    answered = False
    for line in sys.stdin.buffer:
        kind = json.loads(line).get("type")
        if kind == "stop":
            return
        if kind == "query" and not answered:
            answered = True
            view = memoryview(data)
            while view:
                view = view[os.write(1, view) :]


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
