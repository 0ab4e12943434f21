"""Where a line's CPU goes on a session's hot path, stage by stage, in one process.

``python bench/bench_hotpath.py [--variant small] [--size 8M] [--chunk 256K] [--wrapped]
[--gc default|tuned|off] [--rounds 7] [--stages]``

A session's stdout thread hands each ``os.read`` chunk to its
:class:`~sidecar_sync.pipeline.Pipeline` (the sans-IO core), which cuts it into pieces
of ``PIECE_SIZE`` bytes and per piece does: frame (C framer) -> parse (orjson, one
call per run of object lines) -> route (protocol control lines vs provider events)
-> adapt (``StreamAdapter.adapt_batch``, claude) -> account (messages, cost, tokens);
the session then delivers each batch to its consumers. This script drives exactly
that object over a transcript held in memory, cut into read-sized chunks, with no
process and no pipe, so the figures are the library's own CPU per line. The consumer
is a callback that counts every message by its ``type`` (it touches each message,
as a real consumer would); after timing, the counts are checked against what the
transcript implies, and so is the pipeline's message counter.

Two measurements:

* **whole** (default): the real path, timed per round with ``time.thread_time`` (CPU
  of this thread); the median of ``--rounds``.
* **stages** (``--stages``): the same work split by stage: frame + parse are timed
  through the decoder alone, adapt through a timing wrapper around the adapter (the
  pipeline takes any :class:`~sidecar_sync.messages.StreamAdapter`), deliver around
  the consumer; route is the pipeline's time minus decode and adapt. With ``--gc
  default`` the cyclic collector runs wherever allocation triggers it; its share is
  reported apart (from ``gc.callbacks``).

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
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench.transcript import ensure, parse_size
from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.decoder import EventDecoder
from sidecar_sync.framer import BACKEND, LineFramer
from sidecar_sync.messages import AgentMessage, StreamAdapter
from sidecar_sync.pipeline import PIECE_SIZE, Pipeline
from sidecar_sync.session import READ_SIZE

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


class NoMessages(StreamAdapter):
    """An adapter that makes nothing: the path up to routing, for ``--upto route``."""

    def adapt_batch(self, events: Iterable[dict[str, Any]]) -> list[AgentMessage]:
        return []


class TimedAdapter(StreamAdapter):
    """Wraps an adapter and adds the CPU time of its calls to ``elapsed``."""

    def __init__(self, inner: StreamAdapter) -> None:
        super().__init__(inner.provider)
        self.inner = inner
        self.elapsed = 0

    def adapt_batch(self, events: Iterable[dict[str, Any]]) -> list[AgentMessage]:
        t = time.perf_counter_ns()
        out = self.inner.adapt_batch(events)
        self.elapsed += time.perf_counter_ns() - t
        return out


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
        for m in parse_message("claude", event):
            out[m.type] += 1
    return out


#: ``--upto``: run the path only up to this stage (callgrind differences give each stage's cost).
UPTO = ("frame", "parse", "route", "adapt", "deliver")


def run_whole(chunks: list[bytes], upto: str = "deliver") -> tuple[float, Counting, int]:
    """One pass over ``chunks``; returns (thread CPU seconds, the consumer, the pipeline's message count)."""
    callback = Counting()
    if upto == "frame":
        views = LineFramer().feed_views
        t0 = time.thread_time()
        for chunk in chunks:
            views(chunk, PIECE_SIZE)
        return time.thread_time() - t0, callback, 0
    if upto == "parse":
        pieces = EventDecoder(label="bench").feed_pieces
        t0 = time.thread_time()
        for chunk in chunks:
            for _ in pieces(chunk, PIECE_SIZE):
                pass
        return time.thread_time() - t0, callback, 0
    adapter = NoMessages("claude") if upto == "route" else new_stream_adapter("claude")
    pipeline = Pipeline(adapter, label="bench")
    deliver = callback if upto == "deliver" else _nothing
    receive = pipeline.receive_data
    t0 = time.thread_time()
    for chunk in chunks:  # as the session's stdout reader
        for item in receive(chunk):
            if type(item) is tuple:
                deliver("bench", item[0])
    for item in pipeline.receive_eof():
        if type(item) is tuple:
            deliver("bench", item[0])
    return time.thread_time() - t0, callback, pipeline.stats.messages


def _nothing(_session_id: str, _messages: Any) -> None:
    return None


def run_stages(chunks: list[bytes]) -> tuple[dict[str, float], Counting, int]:
    """The same path, split by stage (see the module docstring)."""
    clock = time.perf_counter_ns
    views = LineFramer().feed_views
    pieces = EventDecoder(label="bench").feed_pieces
    t0 = clock()
    for chunk in chunks:
        views(chunk, PIECE_SIZE)
    t1 = clock()
    for chunk in chunks:
        for _ in pieces(chunk, PIECE_SIZE):
            pass
    t2 = clock()
    callback = Counting()
    adapter = TimedAdapter(new_stream_adapter("claude"))
    pipeline = Pipeline(adapter, label="bench")
    delivered = 0
    t3 = clock()
    for chunk in chunks:
        for item in pipeline.receive_data(chunk):
            if type(item) is tuple:
                t = clock()
                callback("bench", item[0])
                delivered += clock() - t
    t4 = clock()
    frame, decode = t1 - t0, t2 - t1
    stages = {
        "frame": frame,
        "parse": decode - frame,
        "route": (t4 - t3) - delivered - decode - adapter.elapsed,
        "adapt": adapter.elapsed,
        "deliver": delivered,
    }
    return {k: v / 1e9 for k, v in stages.items()}, callback, pipeline.stats.messages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="small")
    p.add_argument("--size", default="8M")
    p.add_argument(
        "--chunk",
        default=str(READ_SIZE),
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
            stages, cb, counted = run_stages(chunks)
            stages["gc"] = gc_time[0]
        else:
            cpu, cb, counted = run_whole(chunks)
            stages = {"total": cpu, "gc": gc_time[0]}
        if cb.by_type != want:
            print(f"WRONG OUTPUT: {dict(cb.by_type)} != {dict(want)}", file=sys.stderr)
            return 1
        if counted != nmsg:
            print(f"WRONG COUNTER: {counted} != {nmsg}", file=sys.stderr)
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
