"""Where a line's CPU goes on a session's hot path, stage by stage, in one process.

``python bench/bench_hotpath.py [--variant small] [--size 8M] [--chunk 256K] [--wrapped]
[--gc default|tuned|off] [--rounds 7] [--stages]``

The stdout thread of a session does, per ``os.read`` chunk, cut into pieces of
``session.PIECE_SIZE`` bytes, and per piece: frame (C framer
``feed_segments``) -> parse (one ``orjson.loads`` per run of object lines) -> route
(protocol control lines vs provider events, ``Session._handle``) -> adapt
(``StreamAdapter.adapt_batch``, claude) -> deliver (``Session._deliver``: counters,
cost/token accounting, callbacks). This script runs exactly that code over a
transcript held in memory, cut into read-sized chunks, with no process and no pipe,
so the figures are the library's own CPU per line and nothing else. The callback
counts every message by its ``type`` (it touches each message, as a real consumer
would), and after timing the counts are checked against what the transcript implies.

Two measurements:

* **whole** (default): the real path, ``EventDecoder.feed`` + ``Session._handle``,
  timed per round with ``time.thread_time`` (CPU of this thread); the median of
  ``--rounds``.
* **stages** (``--stages``): the same work with a clock read around each stage of
  every piece (~90 lines per 32 KiB piece, so the clock costs < 1% of it); routing
  is what ``_handle`` costs minus adapt and deliver. With ``--gc default`` the cyclic
  collector runs wherever allocation triggers it; its share is reported apart (from
  ``gc.callbacks``).

``bench/callgrind_hotpath.py`` counts the instructions of one pass under valgrind
(immune to other processes' load; use it to compare two variants of the code).

``--gc``: ``default`` leaves the interpreter's settings alone (the headline);
``tuned`` applies the documented recipe ``gc.set_threshold(100_000, 50, 100)``
(see the README); ``off`` disables the collector (an upper bound, not a recommendation).
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench.transcript import ensure, parse_size  # noqa: E402
from sidecar_sync import adapters as _adapters  # noqa: E402
from sidecar_sync.decoder import EventDecoder  # noqa: E402
from sidecar_sync.framer import BACKEND  # noqa: E402
from sidecar_sync import session as _session  # noqa: E402
from sidecar_sync.session import Session  # noqa: E402

#: How Session._read_stdout cuts a read (the whole read where the code under test has no pieces).
PIECE_SIZE: int = getattr(_session, "PIECE_SIZE", 1 << 62)

TUNED_GC = (100_000, 50, 100)


def wrap(data: bytes) -> bytes:
    """Each line as the claude runner forwards it: ``{"type":"agent_event","event":<line>}``."""
    head, tail = b'{"type":"agent_event","event":', b"}"
    return b"\n".join(head + line + tail for line in data.splitlines() if line.strip()) + b"\n"


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class Counting:
    """The bench consumer: counts messages by type (touches every message)."""

    def __init__(self) -> None:
        self.by_type: collections.Counter[str] = collections.Counter()
        self.batches = 0

    def __call__(self, _session_id: str, messages: list[Any]) -> None:
        by_type = self.by_type
        for message in messages:
            by_type[message.type] += 1
        self.batches += 1


def bare_session(callback: Any) -> Session:
    """A Session with its hot-path state and no process or threads (bench only).

    Built through ``Session._init_stream`` when the session module has it (the code
    under test sets its own hot-path state); else through the attributes by hand.
    """
    session = Session.__new__(Session)
    session.session_id = "bench"
    session.provider = "claude"
    adapter = _adapters.new_stream_adapter("claude")
    session._adapt = adapter.adapt_batch  # noqa: SLF001
    session._adapter = adapter  # noqa: SLF001
    session._lock = threading.Lock()  # noqa: SLF001
    session._changed = threading.Condition(session._lock)  # noqa: SLF001
    session._status = "running"  # noqa: SLF001
    session._reported = "running"  # noqa: SLF001
    session._outstanding = 1  # noqa: SLF001
    session._turn_error = session._error = None  # noqa: SLF001
    session._cost_usd = 0.0  # noqa: SLF001
    session._input_tokens = session._output_tokens = 0  # noqa: SLF001
    session._messages = 0  # noqa: SLF001
    session._bad_envelopes = 0  # noqa: SLF001
    session._error_seq = 0  # noqa: SLF001
    session._backlog = collections.deque(maxlen=1000)  # noqa: SLF001
    session._backlog_enabled = True  # noqa: SLF001
    session._dropped_messages = 0  # noqa: SLF001
    session._message_callbacks = (callback,)  # noqa: SLF001
    session._status_callbacks = ()  # noqa: SLF001
    session._subscriptions = ()  # noqa: SLF001
    session._detached = False  # noqa: SLF001
    init = getattr(session, "_init_hot_path", None)
    if init is not None:
        init(adapter)
    return session


def expected_counts(data: bytes) -> collections.Counter[str]:
    """Messages by type that the claude adapter makes of ``data``'s lines (computed per line, untimed)."""
    import orjson

    out: collections.Counter[str] = collections.Counter()
    for line in data.splitlines():
        if not line.strip():
            continue
        event = orjson.loads(line)
        if event.get("type") == "agent_event":
            event = event["event"]
        for m in _adapters.parse_message("claude", event):
            out[m.type] += 1
    return out


#: ``--upto``: run the path only up to this stage (callgrind differences give each stage's cost).
UPTO = ("frame", "parse", "route", "adapt", "deliver")


def run_whole(chunks: list[bytes], upto: str = "deliver") -> tuple[float, Counting, Session]:
    callback = Counting()
    session = bare_session(callback)
    decoder = EventDecoder(label="bench")
    feed, handle = decoder.feed, session._handle  # noqa: SLF001
    if upto == "frame":
        feed = decoder._segments  # noqa: SLF001
    if upto in ("frame", "parse"):
        handle = _nothing
    elif upto == "route":
        session._adapt = _no_messages  # noqa: SLF001
    elif upto == "adapt":
        session._deliver = _nothing  # noqa: SLF001
    piece = PIECE_SIZE
    t0 = time.thread_time()
    for chunk in chunks:  # as Session._read_stdout: each read handled in pieces, freed before the next
        for start in range(0, len(chunk), piece):
            events = feed(chunk[start : start + piece] if len(chunk) > piece else chunk)
            if events:
                handle(events)
            events = None
    tail = decoder.finish()
    if tail:
        handle(tail)
    return time.thread_time() - t0, callback, session


def _nothing(_arg: Any) -> None:
    return None


def _no_messages(_events: Any) -> list[Any]:
    return []


def run_stages(chunks: list[bytes]) -> tuple[dict[str, float], Counting, Session]:
    """The same path with a clock around each stage of every chunk."""
    import orjson

    callback = Counting()
    session = bare_session(callback)
    decoder = EventDecoder(label="bench")
    segments_of = decoder._segments  # noqa: SLF001
    decode = decoder._decode  # noqa: SLF001
    loads = orjson.loads
    clock = time.perf_counter_ns
    acc = {"frame": 0, "parse": 0, "adapt": 0, "deliver": 0, "handle": 0}
    adapt, deliver = session._adapt, session._deliver  # noqa: SLF001

    def timed_adapt(batch: Any) -> Any:
        t = clock()
        out = adapt(batch)
        acc["adapt"] += clock() - t
        return out

    def timed_deliver(messages: Any) -> None:
        t = clock()
        deliver(messages)
        acc["deliver"] += clock() - t

    session._adapt = timed_adapt  # noqa: SLF001
    session._deliver = timed_deliver  # noqa: SLF001
    handle = session._handle  # noqa: SLF001
    pieces = [c[i : i + PIECE_SIZE] for c in chunks for i in range(0, len(c), PIECE_SIZE)]
    for chunk in pieces:
        t0 = clock()
        segments = segments_of(chunk)
        t1 = clock()
        if len(segments) == 1 and segments[0][1]:
            events = loads(segments[0][0])
        else:
            events = decode(segments)
        t2 = clock()
        handle(events)
        t3 = clock()
        acc["frame"] += t1 - t0
        acc["parse"] += t2 - t1
        acc["handle"] += t3 - t2
    stages = {k: v / 1e9 for k, v in acc.items()}
    stages["route"] = stages.pop("handle") - stages["adapt"] - stages["deliver"]
    return stages, callback, session


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="small")
    p.add_argument("--size", default="8M")
    p.add_argument(
        "--chunk",
        default=str(_session.READ_SIZE),
        help="bytes per read (default: the session's READ_SIZE; each read is handled in PIECE_SIZE pieces)",
    )
    p.add_argument("--wrapped", action="store_true", help="wrap every line in agent_event (claude runner output)")
    p.add_argument("--gc", choices=("default", "tuned", "off"), default="default")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--stages", action="store_true", help="per-stage breakdown")
    p.add_argument("--json", dest="json_out")
    p.add_argument("--upto", choices=UPTO, default="deliver", help="with --passes: stop after this stage")
    p.add_argument(
        "--passes",
        type=int,
        default=0,
        help="run this many untimed passes and exit (for callgrind: Ir(3) - Ir(1) = 2 passes)",
    )
    args = p.parse_args(argv)

    path, info = ensure(args.variant, parse_size(args.size), seed=1)
    data = path.read_bytes()
    if args.wrapped:
        data = wrap(data)
    chunks = chunks_of(data, parse_size(args.chunk))
    lines = sum(1 for line in data.splitlines() if line.strip())
    want = expected_counts(data)
    nmsg = sum(want.values())

    if args.gc == "tuned":
        gc.set_threshold(*TUNED_GC)
    elif args.gc == "off":
        gc.disable()
    gc_time = [0.0]
    gc_started = [0.0]

    def on_gc(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_started[0]

    if args.passes:
        for _ in range(args.passes):
            _, cb, _ = run_whole(chunks, args.upto)
            if args.upto == "deliver" and cb.by_type != want:
                print(f"WRONG OUTPUT: {dict(cb.by_type)} != {dict(want)}", file=sys.stderr)
                return 1
        return 0

    gc.callbacks.append(on_gc)
    results: list[dict[str, float]] = []
    for _ in range(args.rounds):
        gc.collect()
        gc_time[0] = 0.0
        if args.stages:
            stages, cb, session = run_stages(chunks)
            stages["gc"] = gc_time[0]
        else:
            cpu, cb, session = run_whole(chunks)
            stages = {"total": cpu, "gc": gc_time[0]}
        if cb.by_type != want:
            print(f"WRONG OUTPUT: {dict(cb.by_type)} != {dict(want)}", file=sys.stderr)
            return 1
        if session._messages != nmsg:  # noqa: SLF001
            print(f"WRONG COUNTER: {session._messages} != {nmsg}", file=sys.stderr)  # noqa: SLF001
            return 1
        results.append(stages)
    gc.callbacks.remove(on_gc)

    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    us = {k: v / lines * 1e6 for k, v in med.items()}
    total = sum(v for k, v in med.items() if k != "gc") if args.stages else med["total"]
    print(
        f"{args.variant} {len(data) / 2**20:.1f} MiB, {lines:,} lines ({len(data) / lines:.0f} B mean), "
        f"{nmsg:,} messages, {'agent_event-wrapped' if args.wrapped else 'bare'} lines, "
        f"{parse_size(args.chunk) // 1024} KiB reads in {min(PIECE_SIZE, parse_size(args.chunk)) // 1024} KiB pieces, "
        f"framer {BACKEND}, gc {args.gc}, median of {args.rounds}"
    )
    for k, v in us.items():
        print(f"  {k:8} {v:6.3f} us/line")
    print(f"  => {lines / total / 1e3:,.0f}k lines/s, {len(data) / total / 1e6:,.0f} MB/s (CPU of one thread)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"us_per_line": us, "lines": lines, "bytes": len(data)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
