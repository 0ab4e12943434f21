"""A protocol runner for manager tests, well-behaved or hostile, switched by arguments.

Run as ``python scripted.py MODE [key=value ...]``. Standard library only (it starts
fast and does not depend on the package under test). Output goes straight to fd 1
with ``os.write``; commands are read from fd 0 line by line.

Modes:

``good``         ready; per query: agent_started, ``count`` Claude ``assistant`` events
                 (text ``<turn>:<i>``), a ``result`` (cost ``cost * turn``, tokens
                 ``tokens`` in / ``2 * tokens`` out), agent_stopped. ``fail=MSG`` ends
                 every turn (or the turns listed in ``fail_turns=1,3``) with agent_error MSG
                 instead; ``bare=1`` prints provider events without the envelope and no
                 control lines; ``delay=S`` sleeps per event;
                 ``exit_after=N`` exits with ``code`` after N turns; ``trailing=N`` prints N
                 more events after each ``agent_stopped``; ``fail_outcome=O`` names the
                 outcome in each ``agent_error``; ``patch=JSON`` (a list of objects)
                 merges object ``(turn - 1) % len`` into that turn's ``result``
                 (``NaN`` allowed); ``error_line=1``
                 prints a protocol ``error`` line first in each turn; ``pong=1`` an
                 unsolicited ``pong`` and ``ready``. On ``stop``: exit 0.
                 On stdin EOF: exit 0.
``hold``         per query: agent_started, one event, then waits for ``stop`` (exit 0).
``stubborn``     ignores ``stop``; ``term=ignore`` also ignores SIGTERM; ``child=1``
                 starts a child (same group) that ignores SIGTERM and sleeps
                 (``child=own_group``: in a process group of its own); each pid
                 is announced as a bare event ``{"type":"pid","pid":..}``.
``crash``        per query: ``count`` events, then half a line, then ``os._exit(code)``.
``exit``         exits at once with ``code`` (before reading anything).
``garbage``      per query: valid events interleaved with an invalid JSON line, invalid
                 UTF-8, a ``big``-byte line, ``null``, ``42``, ``[1]``, a bad envelope.
``close_stdin``  closes its stdin after ``ready`` and then answers nothing, sleeping.
``close_stdout`` closes its stdout after ``ready`` and sleeps (``sleep`` seconds).
``orphan``       answers the query, starts a child that keeps stdout open for ``sleep``
                 seconds (same group), then exits 0.
``stderr``       per query: writes ``bytes`` bytes of text lines to stderr, then answers
                 like ``good``.
``daemon``       answers the query, starts a ``setsid`` child (a session and process group
                 of its own, out of reach of a group kill) that keeps ``hold=stdout`` (or
                 ``stderr``) open for ``sleep`` seconds, announces its pid as a bare event
                 ``{"type":"pid","pid":..}``, then exits 0.
``deaf``         ready, then never reads stdin (sleeps ``sleep`` seconds).
``env``          per query: a bare event ``{"type":"env","env":{...},"cwd":..,"query":{...}}``
                 with its environment, working directory and the query it got; then
                 agent_stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

MODE = sys.argv[1]
ARGS = dict(arg.split("=", 1) for arg in sys.argv[2:])


def opt(name: str, default: str) -> str:
    return ARGS.get(name, default)


def out(*objects: object) -> None:
    data = b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objects)
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def raw(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def envelope(event: dict, bare: bool) -> dict:
    return event if bare else {"type": "agent_event", "event": event}


def assistant(turn: int, i: int) -> dict:
    return {
        "type": "assistant",
        "uuid": f"u-{turn}-{i}",
        "message": {"role": "assistant", "content": [{"type": "text", "text": f"{turn}:{i}"}]},
        "parent_tool_use_id": None,
    }


def result(turn: int) -> dict:
    cost = float(opt("cost", "0.5")) * turn
    tokens = int(opt("tokens", "10"))
    event = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "uuid": f"r-{turn}",
        "total_cost_usd": cost,
        "duration_ms": 1,
        "num_turns": 1,
        "result": "ok",
        "usage": {"input_tokens": tokens, "output_tokens": 2 * tokens},
    }
    patches = json.loads(opt("patch", "[]"))
    if patches:
        event.update(patches[(turn - 1) % len(patches)])
    return event


def commands():
    """Yield parsed commands from stdin until EOF."""
    buffer = b""
    while True:
        data = os.read(0, 65536)
        if not data:
            return
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)


def answer(turn: int) -> None:
    bare = opt("bare", "0") == "1"
    count = int(opt("count", "3"))
    delay = float(opt("delay", "0"))
    if not bare:
        if opt("pong", "0") == "1":
            out({"type": "pong"}, {"type": "ready"})
        if opt("error_line", "0") == "1":
            out({"type": "error", "message": f"complaint {turn}"})
        out({"type": "agent_started"})
    for i in range(count):
        if delay:
            time.sleep(delay)
        out(envelope(assistant(turn, i), bare))
    fail_turns = opt("fail_turns", "")
    if opt("fail", "") and (not fail_turns or str(turn) in fail_turns.split(",")):
        failure = {"type": "agent_error", "message": opt("fail", "")}
        if opt("fail_outcome", ""):
            failure["outcome"] = opt("fail_outcome", "")
        out(failure)
        return
    out(envelope(result(turn), bare))
    if not bare:
        out({"type": "agent_stopped"})
    for i in range(int(opt("trailing", "0"))):
        out(envelope(assistant(turn, 1000 + i), bare))


def main() -> None:
    if MODE == "exit":
        os._exit(int(opt("code", "0")))
    if MODE == "deaf":
        out({"type": "ready"})
        time.sleep(float(opt("sleep", "30")))
        return
    if MODE == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN if opt("term", "") == "ignore" else signal.SIG_DFL)
        out({"type": "ready"}, {"type": "pid", "pid": os.getpid()})
        if opt("child", "0") in ("1", "own_group"):
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                process_group=0 if opt("child", "0") == "own_group" else None,
            )
            out({"type": "pid", "pid": child.pid})
        for _ in commands():
            pass  # ignores everything, including stop
        time.sleep(120)  # and stdin EOF
        return
    out({"type": "ready"})
    if MODE == "close_stdin":
        os.close(0)
        time.sleep(float(opt("sleep", "30")))
        return
    if MODE == "close_stdout":
        os.close(1)
        time.sleep(float(opt("sleep", "30")))
        return
    turn = 0
    for command in commands():
        kind = command.get("type")
        if kind == "stop":
            return
        if kind == "ping":
            out({"type": "pong"})
            continue
        if kind != "query":
            out({"type": "error", "message": f"unknown command {kind!r}"})
            continue
        turn += 1
        if MODE == "good":
            answer(turn)
            if turn == int(opt("exit_after", "0")):
                os._exit(int(opt("code", "0")))
        elif MODE == "env":
            out(
                {"type": "agent_started"},
                {"type": "env", "env": dict(os.environ), "cwd": os.getcwd(), "query": command},
                {"type": "agent_stopped"},
            )
        elif MODE == "hold":
            out({"type": "agent_started"}, envelope(assistant(turn, 0), False))
        elif MODE == "crash":
            out({"type": "agent_started"})
            for i in range(int(opt("count", "3"))):
                out(envelope(assistant(turn, i), False))
            raw(b'{"type":"agent_event","event":{"type":"assis')
            os._exit(int(opt("code", "3")))
        elif MODE == "garbage":
            big = int(opt("big", str(12 * 2**20)))
            out({"type": "agent_started"}, envelope(assistant(turn, 0), False))
            raw(b"this is not json\n")
            out(envelope(assistant(turn, 1), False))
            raw(b'{"type":"agent_event","event":{"type":"assistant","text":"\xff\xfe"}}\n')
            out(envelope(assistant(turn, 2), False))
            raw(b'{"type":"agent_event","event":{"pad":"' + b"x" * big + b'"}}\n')
            out(envelope(assistant(turn, 3), False))
            raw(b"null\n42\n[1,2]\n\"str\"\n")
            out(envelope(assistant(turn, 4), False))
            out({"type": "agent_event", "event": 7})
            out(envelope(assistant(turn, 5), False), envelope(result(turn), False), {"type": "agent_stopped"})
        elif MODE == "orphan":
            answer(turn)
            subprocess.Popen(
                [sys.executable, "-c", f"import time; time.sleep({float(opt('sleep', '60'))})"],
                stdin=subprocess.DEVNULL,
            )
            out({"type": "pid", "pid": os.getpid()})
            return
        elif MODE == "daemon":
            answer(turn)
            hold = opt("hold", "stdout")
            daemon = subprocess.Popen(
                [sys.executable, "-c", f"import time; time.sleep({float(opt('sleep', '60'))})"],
                stdin=subprocess.DEVNULL,
                stdout=None if hold == "stdout" else subprocess.DEVNULL,
                stderr=None if hold == "stderr" else subprocess.DEVNULL,
                start_new_session=True,
            )
            out({"type": "pid", "pid": daemon.pid})
            os._exit(0)
        elif MODE == "stderr":
            total = int(opt("bytes", str(8 * 2**20)))
            block = (b"stderr noise line " + b"n" * 100 + b"\n") * 512
            written = 0
            while written < total:
                written += os.write(2, block)
            answer(turn)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
