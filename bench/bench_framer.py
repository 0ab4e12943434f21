"""Framer throughput on realistic agent output, against plain-Python ways to split lines.

Framing: one benchmark group per input (small lines or the big-line mix, cut into
64 KiB chunks as a pipe read returns them, or 1 MiB chunks); in each group:

* ``c_feed``           the C framer, ``LineFramer.feed``
* ``c_feed_segments``  the C framer's batch form (JSON arrays for orjson), not parsed
* ``py_framer``        the pure-Python twin, ``PyLineFramer.feed``
* ``bytes_split``      ``buf += chunk; parts = buf.split(b"\\n"); buf = parts.pop()``
* ``readline``         ``io.BufferedReader(..., buffer_size=chunk).readline`` until EOF

The framers do more than the baselines: caps, trimming, blank-line skipping,
counters. The baselines do none of that; readline even keeps each line's ``\\n``
(it is stripped only when checking, outside the timing).

Decoding (framing + ``orjson``, 64 KiB chunks), because the batch form exists only
to be parsed: ``decoder_c`` (``EventDecoder`` on the C framer: one ``orjson.loads``
per array of object lines), ``decoder_py`` (``EventDecoder`` on the twin: one call
per line), ``c_feed_loads`` and ``split_loads`` (``map(orjson.loads, lines)`` after
the C framer or after the split loop).

Every round of a contender is paired with a baseline run (``bytes_split``, or
``split_loads`` when decoding) made just before it, and ``extra_info["paired_ratio"]``
is the median ratio: on a shared machine that cancels most of the load changes.
After timing, one more run of each contender is checked against the input's own
lines (or their ``orjson.loads``) and the result is stored as
``extra_info["correct"]``; a wrong contender fails its benchmark.

Run (see bench/README.md)::

    python -m pytest bench/bench_framer.py --benchmark-min-rounds=15 --benchmark-disable-gc \\
        --benchmark-json=bench/results/framer.json
    python bench/framer_table.py bench/results/framer.json
"""

from __future__ import annotations

import gc
import io
import statistics
import time
from collections.abc import Callable
from functools import cache

import orjson
import pytest

from bench.framer_data import INPUTS
from sidecar_sync import framer as framer_module
from sidecar_sync.decoder import EventDecoder
from sidecar_sync.framer import PyLineFramer

CHUNKS = {"64KiB": 64 * 1024, "1MiB": 2**20}

Contender = Callable[[list[bytes], bytes, int], list]


@cache
def stream(name: str) -> bytes:
    return INPUTS[name]()


@cache
def chunked(name: str, chunk: int) -> list[bytes]:
    data = stream(name)
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


@cache
def expected_lines(name: str) -> list[bytes]:
    return stream(name).split(b"\n")[:-1]


# ---- contenders: each returns what a consumer would iterate over ------------------


def c_feed(chunks: list[bytes], data: bytes, chunk: int) -> list:
    feed = framer_module.CLineFramer().feed
    out: list[bytes] = []
    for c in chunks:
        out += feed(c)
    return out


def c_feed_segments(chunks: list[bytes], data: bytes, chunk: int) -> list:
    feed = framer_module.CLineFramer().feed_segments
    out: list = []
    for c in chunks:
        out += feed(c)
    return out


def py_framer(chunks: list[bytes], data: bytes, chunk: int) -> list:
    feed = PyLineFramer().feed
    out: list[bytes] = []
    for c in chunks:
        out += feed(c)
    return out


def bytes_split(chunks: list[bytes], data: bytes, chunk: int) -> list:
    out: list[bytes] = []
    buf = b""
    for c in chunks:
        buf += c
        parts = buf.split(b"\n")
        buf = parts.pop()
        out += parts
    return out


def readline(chunks: list[bytes], data: bytes, chunk: int) -> list:
    reader = io.BufferedReader(io.BytesIO(data), buffer_size=chunk)  # type: ignore[arg-type]
    out: list[bytes] = []
    for line in iter(reader.readline, b""):
        out.append(line)
    return out


CONTENDERS: dict[str, Contender] = {
    "c_feed": c_feed,
    "c_feed_segments": c_feed_segments,
    "py_framer": py_framer,
    "bytes_split": bytes_split,
    "readline": readline,
}


def as_lines(name: str, result: list) -> list[bytes]:
    """Bring each contender's output to plain lines, outside the timing."""
    if name == "c_feed_segments":
        lines: list[bytes] = []
        for text, count in result:
            raw = bytes(text)
            lines += raw[1:-1].split(b"\n,") if count else [raw]
        return lines
    if name == "readline":
        return [line.rstrip(b"\n") for line in result]
    return result


def timed(fn: Contender, args: tuple) -> float:
    """One untimed-by-the-fixture run of ``fn``, under the same GC rule as the fixture's runs."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        fn(*args)
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def paired(benchmark, request: pytest.FixtureRequest, contender: Contender, baseline: Contender, args: tuple) -> None:  # noqa: ANN001
    """Time ``contender``, each round paired with a ``baseline`` run just before it.

    The machine these run on is shared, so load changes from second to second. The
    ratio of each round to the baseline run right before it cancels most of that;
    ``extra_info["paired_ratio"]`` is the median of those ratios. Both runs build
    their whole output and free it inside the timing.
    """
    baseline_times: list[float] = []

    def setup() -> tuple[tuple, dict]:
        baseline_times.append(timed(baseline, args))
        return args, {}

    def run(*run_args: object) -> None:
        contender(*run_args)  # type: ignore[arg-type]

    rounds = max(request.config.getoption("benchmark_min_rounds"), 5)
    benchmark.pedantic(run, setup=setup, rounds=rounds, warmup_rounds=1)
    if benchmark.stats is None:
        return  # --benchmark-disable: one untimed run, a correctness check only
    times = benchmark.stats.stats.data
    base = baseline_times[-len(times) :]
    benchmark.extra_info["paired_ratio"] = statistics.median(t / b for t, b in zip(times, base, strict=True))
    benchmark.extra_info["baseline_median"] = statistics.median(base)


def require_c(contender: str) -> None:
    if contender.startswith(("c_", "decoder_c")) and framer_module.BACKEND != "c":
        pytest.fail("the C framer is not the backend; the benchmark would be meaningless")


@pytest.mark.parametrize("contender", list(CONTENDERS))
@pytest.mark.parametrize("chunk_name", list(CHUNKS))
@pytest.mark.parametrize("input_name", list(INPUTS))
def test_framer(benchmark, request: pytest.FixtureRequest, input_name: str, chunk_name: str, contender: str) -> None:  # noqa: ANN001
    """Framing alone: one contender on one input, paired with ``bytes_split``."""
    require_c(contender)
    chunk = CHUNKS[chunk_name]
    args = (chunked(input_name, chunk), stream(input_name), chunk)
    benchmark.group = f"{input_name} lines, {chunk_name} chunks"
    benchmark.extra_info.update(
        contender=contender, input=input_name, chunk=chunk, bytes=len(args[1]), lines=len(expected_lines(input_name))
    )
    paired(benchmark, request, CONTENDERS[contender], bytes_split, args)
    correct = as_lines(contender, CONTENDERS[contender](*args)) == expected_lines(input_name)
    benchmark.extra_info["correct"] = correct
    assert correct, f"{contender} returned the wrong lines"


# ---- framing + parsing: what feed_segments is for ----------------------------------


def split_loads(chunks: list[bytes]) -> list:
    out: list = []
    buf = b""
    for c in chunks:
        buf += c
        parts = buf.split(b"\n")
        buf = parts.pop()
        out += map(orjson.loads, parts)
    return out


def c_feed_loads(chunks: list[bytes]) -> list:
    feed = framer_module.CLineFramer().feed
    out: list = []
    for c in chunks:
        out += map(orjson.loads, feed(c))
    return out


def decoder_c(chunks: list[bytes]) -> list:
    feed = EventDecoder(framer=framer_module.CLineFramer()).feed
    out: list = []
    for c in chunks:
        out += feed(c)
    return out


def decoder_py(chunks: list[bytes]) -> list:
    feed = EventDecoder(framer=PyLineFramer()).feed
    out: list = []
    for c in chunks:
        out += feed(c)
    return out


DECODERS: dict[str, Callable[[list[bytes]], list]] = {
    "decoder_c": decoder_c,
    "decoder_py": decoder_py,
    "c_feed_loads": c_feed_loads,
    "split_loads": split_loads,
}


@cache
def expected_events(name: str) -> list:
    return [orjson.loads(line) for line in expected_lines(name)]


@pytest.mark.parametrize("contender", list(DECODERS))
@pytest.mark.parametrize("input_name", list(INPUTS))
def test_decode(benchmark, request: pytest.FixtureRequest, input_name: str, contender: str) -> None:  # noqa: ANN001
    """Framing + orjson, 64 KiB chunks: EventDecoder (batched arrays on C) against
    ``map(orjson.loads, lines)`` after the C framer or after the split loop, paired
    with the split loop."""
    require_c(contender)
    chunks = chunked(input_name, CHUNKS["64KiB"])
    benchmark.group = f"decode {input_name} lines, 64KiB chunks"
    benchmark.extra_info.update(
        contender=contender, input=input_name, chunk=CHUNKS["64KiB"], bytes=len(stream(input_name))
    )
    paired(benchmark, request, DECODERS[contender], split_loads, (chunks,))
    correct = DECODERS[contender](chunks) == expected_events(input_name)
    benchmark.extra_info["correct"] = correct
    assert correct, f"{contender} returned the wrong events"
