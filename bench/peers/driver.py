"""One benchmark contender, one scenario, in a fresh process: prints one ``@@RESULT {json}`` line.

Run by ``bench/peers.py`` (never import it from the library). Every contender supervises
the same emitter (``bench/peers/emitter.c``): the emitter replays ``$SIDECAR_BENCH_TRANSCRIPT``
``$SIDECAR_BENCH_REPEAT`` times when it gets its first query and then ends the turn.

Contenders (``--peer``):

* ``sidecar`` — sidecar_sync's ``SidecarManager`` (its public API); the framer backend is picked
  by ``SIDECAR_SYNC_FRAMER`` in the environment (``c`` or ``python``).
* ``naive`` — a plain synchronous supervisor: ``subprocess.Popen`` + ``readline`` +
  ``json.loads`` + sidecar_sync's claude adapter, one thread per session.
* ``plain`` — reference: the best plain Python loop (``os.read`` + ``split`` + ``orjson.loads``),
  no adapter, no callbacks.
* ``sdk`` — the official ``claude-agent-sdk``'s ``query()`` with ``cli_path`` = the emitter
  (run with the SDK's own venv; needs nothing from this repo).

Modes (``--mode``): ``tput`` starts ``--sessions`` sessions at once and times until every
turn has ended; ``ttfm`` runs ``--count`` one-session turns one after the other and reports
the time from starting each session to its first message.

Measured inside this process: wall time (``perf_counter``), CPU time of this process only
(``getrusage(RUSAGE_SELF)``: all its threads, not the emitters), peak RSS (``VmHWM`` from
``/proc/self/status`` at the end, so the whole life of the process), and the RSS before any
session started. Message counts are checked against the transcript by ``bench/peers.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

QUERY = b'{"type":"query","sessionId":"bench","prompt":"go","permissionMode":"bypassPermissions"}\n'
STOP = b'{"type":"stop","sessionId":"bench"}\n'
END_LINE = b'{"type":"agent_stopped"}'
#: ``SIDECAR_BENCH_GC=tuned``: the GC recipe of bench/README.md (gen0 threshold 100,000).
TUNED_GC_THRESHOLDS = (100_000, 50, 100)
#: No turn of any scenario may take longer than this (a hung peer must not hang the bench).
TURN_TIMEOUT = 600.0


def proc_status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def switches() -> tuple[int, int, float, float]:
    """Context switches of this process so far (voluntary: a thread blocked, on the GIL, a read or
    a poll; involuntary: preempted), and its user and system CPU seconds."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_nvcsw, ru.ru_nivcsw, ru.ru_utime, ru.ru_stime


class Tally:
    """Per-session message counts and first-message latencies (each slot written by one thread)."""

    def __init__(self, n: int) -> None:
        self.messages = [0] * n
        self.first = [-1.0] * n
        self.started = [0.0] * n
        self.errors: list[str] = []
        self.extra: dict[str, Any] = {}

    def callback(self, i: int) -> Callable[[str, list[Any]], None]:
        messages, first, started = self.messages, self.first, self.started

        def on_message(_sid: str, msgs: list[Any]) -> None:
            if first[i] < 0:
                first[i] = time.perf_counter() - started[i]
            messages[i] += len(msgs)

        return on_message


# ══ Peer 4: sidecar_sync — THE ADAPTER TO THE LIBRARY UNDER TEST ═════════════════════════
# Uses only the library's public API: SidecarManager, register_provider(name, command,
# adapter="claude"), start_session(..., on_message=...), wait(), shutdown via `with`.
# Until sidecar_sync.SidecarManager exists this raises ImportError and bench/peers.py reports
# the peer as NOT AVAILABLE (it never substitutes anything).


def run_sidecar(n: int, emitter: str, tally: Tally) -> None:
    from sidecar_sync import SidecarManager  # ImportError until the manager lands
    from sidecar_sync.framer import BACKEND  # (both imported before timing by PREPARE)

    tally.extra["framer"] = BACKEND
    with SidecarManager() as manager:
        manager.register_provider("bench", [emitter], adapter="claude")
        ids = [f"bench-{os.getpid()}-{i}" for i in range(n)]
        for i, sid in enumerate(ids):
            tally.started[i] = time.perf_counter()
            manager.start_session(sid, "bench", "go", on_message=tally.callback(i))
        for sid in ids:
            state = manager.wait(sid, timeout=TURN_TIMEOUT)
            if state.status not in ("idle", "done"):
                tally.errors.append(f"{sid}: status {state.status}: {state.error}")
        tally.extra["t_end"] = time.perf_counter()
        states = [manager.get_session(sid) for sid in ids]
        tally.extra["invalid_lines"] = sum(getattr(s, "invalid_lines", 0) for s in states)
        tally.extra["dropped_lines"] = sum(getattr(s, "dropped_lines", 0) for s in states)


# ══ Peer 2: naive synchronous supervisor ═════════════════════════════════════════════════


def _naive_session(i: int, emitter: str, tally: Tally) -> None:
    from sidecar_sync.adapters import parse_message

    on_message = tally.callback(i)
    sid = f"bench-{os.getpid()}-{i}"
    invalid = 0
    tally.started[i] = time.perf_counter()
    proc = subprocess.Popen(
        [emitter], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(QUERY)
        proc.stdin.flush()
        for raw in proc.stdout:  # readline
            line = raw.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                invalid += 1
                continue
            if type(event) is not dict:
                invalid += 1
                continue
            kind = event.get("type")
            if kind in ("ready", "pong", "agent_started"):
                continue
            if kind == "agent_stopped":
                break
            if kind in ("agent_error", "error"):
                tally.errors.append(f"{sid}: {event.get('message')}")
                continue
            if kind == "agent_event" and type(event.get("event")) is dict:
                event = event["event"]
            msgs = parse_message("claude", event)
            if msgs:
                on_message(sid, msgs)
        else:
            tally.errors.append(f"{sid}: stdout closed before the turn ended")
    finally:
        tally.extra.setdefault("t_ends", []).append(time.perf_counter())
        tally.extra["invalid_lines"] = tally.extra.get("invalid_lines", 0) + invalid
        try:
            proc.stdin.write(STOP)
            proc.stdin.close()
        except OSError:
            pass
        proc.stdout.close()
        proc.wait(timeout=30)


def run_naive(n: int, emitter: str, tally: Tally) -> None:
    import sidecar_sync.messages  # noqa: F401  (import before timing)

    _run_threads(n, lambda i: _naive_session(i, emitter, tally), tally)


# ══ Reference: the best plain Python loop ════════════════════════════════════════════════


def _plain_session(i: int, emitter: str, tally: Tally) -> None:
    import orjson

    loads = orjson.loads
    tally.started[i] = time.perf_counter()
    proc = subprocess.Popen(
        [emitter], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(QUERY)
    proc.stdin.flush()
    fd = proc.stdout.fileno()
    read = os.read
    pending: list[bytes] = []  # pieces of the line being received (no newline in them)
    count = 0
    done = False
    while not done:
        chunk = read(fd, 1 << 20)
        if not chunk:
            tally.errors.append(f"plain-{i}: stdout closed before the turn ended")
            break
        cut = chunk.rfind(b"\n")
        if cut < 0:
            pending.append(chunk)
            continue
        if pending:
            pending.append(chunk[:cut])
            block = b"".join(pending)
            pending = [chunk[cut + 1 :]]
        else:
            block = chunk[:cut]
            pending = [chunk[cut + 1 :]]
        lines = block.split(b"\n")
        if lines[-1] == END_LINE:
            lines.pop()
            done = True
        for line in lines:
            if line:
                loads(line)
                count += 1
        if count and tally.first[i] < 0:
            tally.first[i] = time.perf_counter() - tally.started[i]
    tally.messages[i] = count
    tally.extra.setdefault("t_ends", []).append(time.perf_counter())
    proc.stdin.write(STOP)
    proc.stdin.close()
    proc.stdout.close()
    proc.wait(timeout=30)


def run_plain(n: int, emitter: str, tally: Tally) -> None:
    import orjson  # noqa: F401

    _run_threads(n, lambda i: _plain_session(i, emitter, tally), tally)


# ══ Peer 3: the official Python SDK (claude-agent-sdk) ═══════════════════════════════════


def run_sdk(n: int, emitter: str, tally: Tally) -> None:
    import asyncio

    from claude_agent_sdk import ClaudeAgentOptions, query  # imported before timing by PREPARE

    async def one(i: int) -> None:
        sid = f"sdk-{i}"
        options = ClaudeAgentOptions(cli_path=emitter)
        tally.started[i] = time.perf_counter()
        try:
            async for _msg in query(prompt="go", options=options):
                if tally.first[i] < 0:
                    tally.first[i] = time.perf_counter() - tally.started[i]
                tally.messages[i] += 1
        except Exception as exc:  # the failure is a result: report it
            tally.errors.append(f"{sid}: {type(exc).__name__}: {str(exc)[:300]}")
        tally.extra.setdefault("t_ends", []).append(time.perf_counter())

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), TURN_TIMEOUT)

    asyncio.run(main())


def _run_threads(n: int, target: Callable[[int], None], tally: Tally) -> None:
    def guarded(i: int) -> None:
        try:
            target(i)
        except Exception as exc:
            tally.errors.append(f"session {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=guarded, args=(i,), name=f"bench-{i}", daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TURN_TIMEOUT)
        if t.is_alive():
            tally.errors.append(f"{t.name}: still running after {TURN_TIMEOUT} s")


def _import(*modules: str) -> Callable[[], None]:
    """Import a peer's modules before anything is measured (ImportError: peer not available)."""

    def prepare() -> None:
        import importlib

        for m in modules:
            importlib.import_module(m)
        if "sidecar_sync" in modules:
            from sidecar_sync import SidecarManager  # noqa: F401

    return prepare


PREPARE: dict[str, Callable[[], None]] = {
    "sidecar": _import("sidecar_sync", "sidecar_sync.framer", "sidecar_sync.messages"),
    "naive": _import("sidecar_sync.messages"),
    "plain": _import("orjson"),
    "sdk": _import("claude_agent_sdk"),
}

PEERS: dict[str, Callable[[int, str, Tally], None]] = {
    "sidecar": run_sidecar,
    "naive": run_naive,
    "plain": run_plain,
    "sdk": run_sdk,
}


class GcWatch:
    """Collections per generation and seconds spent in the cyclic GC while a run is measured."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._t = 0.0
        self._stats0 = gc.get_stats()

    def __call__(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t

    def __enter__(self) -> GcWatch:
        self._stats0 = gc.get_stats()
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)
        stats = gc.get_stats()
        self.collections = [b["collections"] - a["collections"] for a, b in zip(self._stats0, stats, strict=True)]


def apply_gc_setting() -> str:
    """``SIDECAR_BENCH_GC``: ``default`` (the interpreter's own settings, the headline figures) or
    ``tuned`` (the recipe in bench/README.md, applied to every Python peer alike)."""
    setting = os.environ.get("SIDECAR_BENCH_GC", "default")
    if setting == "tuned":
        gc.set_threshold(*TUNED_GC_THRESHOLDS)
    elif setting != "default":
        raise SystemExit(f"SIDECAR_BENCH_GC={setting!r}: use default or tuned")
    return setting


def measure(peer: str, n: int, emitter: str) -> dict[str, Any]:
    """Run ``n`` sessions of ``peer`` at once; wall time runs from the first session start to
    the end of the last turn, CPU time (this process) from just before to just after."""
    try:
        PREPARE[peer]()
    except ImportError as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    run = PEERS[peer]
    tally = Tally(n)
    base_rss = proc_status_kb("VmRSS")
    sw0 = switches()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    with GcWatch() as gcw:
        try:
            run(n, emitter, tally)
        except Exception as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
    t_end = tally.extra.pop("t_end", None) or max(tally.extra.pop("t_ends", None) or [time.perf_counter()])
    tally.extra.pop("t_ends", None)
    cpu = cpu_seconds() - cpu0
    sw = [b - a for a, b in zip(sw0, switches(), strict=True)]
    t_start = min((t for t in tally.started if t > 0), default=t0)
    return {
        "available": True,
        "messages": tally.messages,
        "first_s": tally.first,
        "wall_s": t_end - t_start,
        "cpu_s": cpu,
        "base_rss_kb": base_rss,
        "gc_s": gcw.seconds,
        "voluntary_switches": sw[0],
        "involuntary_switches": sw[1],
        "user_s": sw[2],
        "system_s": sw[3],
        "gc_collections": gcw.collections,
        "errors": tally.errors,
        **tally.extra,
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--peer", choices=sorted(PEERS), required=True)
    p.add_argument("--mode", choices=("tput", "ttfm"), default="tput")
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--emitter", required=True)
    args = p.parse_args()
    gc_setting = apply_gc_setting()
    if args.mode == "tput":
        result = measure(args.peer, args.sessions, args.emitter)
    else:
        first: list[float] = []
        msgs: list[int] = []
        errors: list[str] = []
        result = {}
        for _ in range(args.count):
            r = measure(args.peer, 1, args.emitter)
            if not r["available"]:
                result = r
                break
            first.append(r["first_s"][0])
            msgs.append(r["messages"][0])
            errors += r["errors"]
        else:
            result = {"available": True, "first_s": first, "messages": msgs, "errors": errors,
                      "base_rss_kb": proc_status_kb("VmRSS")}  # fmt: skip
    result.update(peer=args.peer, mode=args.mode, sessions=args.sessions, hwm_kb=proc_status_kb("VmHWM"), gc=gc_setting)
    print("@@RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
