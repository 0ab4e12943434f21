"""A stand-in Codex CLI: the ``codex exec --json`` events of a plain turn, and a scripted ``--version``.

Run as ``python standin_codex.py <version mode> <log file> <codex arguments...>``
(:func:`write_standin_codex` writes a small executable that does so). Every call
appends its arguments as one JSON line to the log file, so tests can count the
``--version`` calls.

``--version`` answers by mode: ``ok`` prints ``codex-cli 0.0.1-standin`` (what the
real CLI prints, with another version), ``text`` prints a line that is no version
number, ``fail`` exits 2 with a message on stderr, ``hang`` sleeps (until killed, or
:data:`HANG_SECONDS` at most).

``exec ... [resume <thread>] -`` reads the prompt from stdin to EOF and prints
``thread.started`` (the resumed thread id, or a new one), ``turn.started``, the
answer ``standin: <prompt>`` as an ``agent_message`` item and ``turn.completed``
with usage, as compact JSON lines like the real CLI's.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Final

__all__ = ["STANDIN_VERSION", "write_standin_codex", "version_calls"]

#: What ``--version`` prints in mode ``ok``.
STANDIN_VERSION: Final = "codex-cli 0.0.1-standin"
#: The longest a ``hang`` ``--version`` sleeps (the runner kills it long before).
HANG_SECONDS: Final = 60.0
NEW_THREAD: Final = "0199a213-81c0-7800-8aa1-bbab2a035a53"


def write_standin_codex(directory: Path, mode: str = "ok") -> Path:
    """An executable ``codex`` in ``directory`` running this stand-in with ``--version`` mode ``mode``."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / "codex"
    log = directory / "calls.jsonl"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" {mode} "{log}" "$@"\n')
    program.chmod(0o755)
    return program


def version_calls(program: Path) -> int:
    """How many times the stand-in at ``program`` was asked ``--version``."""
    log = program.parent / "calls.jsonl"
    if not log.exists():
        return 0
    return sum(json.loads(line) == ["--version"] for line in log.read_text().splitlines())


def _emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _version(mode: str) -> int:
    if mode == "ok":
        print(STANDIN_VERSION)
    elif mode == "text":
        print("  a development build  \nsecond line")
    elif mode == "fail":
        print("error: --version is broken here", file=sys.stderr)
        return 2
    elif mode == "hang":
        time.sleep(HANG_SECONDS)
    return 0


def _exec(args: list[str]) -> int:
    thread = args[args.index("resume") + 1] if "resume" in args else NEW_THREAD
    prompt = sys.stdin.read()
    _emit({"type": "thread.started", "thread_id": thread})
    _emit({"type": "turn.started"})
    _emit({"type": "item.completed", "item": {"id": "item_0", "type": "agent_message", "text": f"standin: {prompt}"}})
    usage = {"input_tokens": 10, "cached_input_tokens": 0, "output_tokens": 3}
    _emit({"type": "turn.completed", "usage": usage})
    return 0


def main(argv: list[str]) -> int:
    mode, log, args = argv[0], argv[1], argv[2:]
    with open(log, "a") as calls:
        calls.write(json.dumps(args) + "\n")
    if args == ["--version"]:
        return _version(mode)
    if args[:1] == ["exec"]:
        return _exec(args)
    print(f"standin codex: unexpected arguments {args!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
