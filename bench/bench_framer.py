"""Framer throughput on realistic agent output, against plain-Python ways to split lines.

One benchmark group per input (small lines or the big-line mix, cut into 64 KiB
chunks as a pipe read returns them, or 1 MiB chunks); in each group:

* ``c_feed``           the C framer, ``LineFramer.feed``
* ``c_feed_segments``  the C framer's batch form (JSON arrays for orjson)
* ``py_framer``        the pure-Python twin, ``PyLineFramer.feed``
* ``bytes_split``      ``buf += chunk; parts = buf.split(b"\\n"); buf = parts.pop()``
* ``readline``         ``io.BufferedReader(..., buffer_size=chunk).readline`` until EOF

The framers do more than the baselines: caps, trimming, blank-line skipping,
counters. The baselines do none of that; readline even keeps each line's ``\\n``
(it is stripped only when checking, outside the timing). A timed run builds the
whole list of lines and frees it, as a consumer that drops lines once used does.
After timing, one more run of each contender is compared with the input's own
lines and the result is stored as ``extra_info["correct"]``; a wrong contender
fails its benchmark.

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
from functools import cache
from typing import Callable

import pytest

from bench.framer_data import INPUTS
from sidecar_sync import framer as framer_module
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


@pytest.mark.parametrize("contender", list(CONTENDERS))
@pytest.mark.parametrize("chunk_name", list(CHUNKS))
@pytest.mark.parametrize("input_name", list(INPUTS))
def test_framer(benchmark, request: pytest.FixtureRequest, input_name: str, chunk_name: str, contender: str) -> None:  # noqa: ANN001
    """Time one contender on one input; each round is paired with a ``bytes_split`` run just before it.

    The machine these run on is shared, so load changes from second to second. The
    ratio of each round to the baseline run right before it cancels most of that;
    ``extra_info["paired_ratio"]`` is the median of those ratios.
    """
    if contender.startswith("c_") and framer_module.CLineFramer is None:
        pytest.fail("the C framer is not built; the benchmark would be meaningless")
    chunk = CHUNKS[chunk_name]
    args = (chunked(input_name, chunk), stream(input_name), chunk)
    benchmark.group = f"{input_name} lines, {chunk_name} chunks"
    benchmark.extra_info.update(
        contender=contender, input=input_name, chunk=chunk, bytes=len(args[1]), lines=len(expected_lines(input_name))
    )
    baseline: list[float] = []

    def setup() -> tuple[tuple, dict]:
        baseline.append(timed(bytes_split, args))
        return args, {}

    def run(chunks: list[bytes], data: bytes, chunk: int) -> None:
        CONTENDERS[contender](chunks, data, chunk)  # the output is freed inside the timing, as in setup()

    rounds = max(request.config.getoption("benchmark_min_rounds"), 5)
    benchmark.pedantic(run, setup=setup, rounds=rounds, warmup_rounds=1)
    times = benchmark.stats.stats.data
    ratios = [t / b for t, b in zip(times, baseline[-len(times) :])]
    benchmark.extra_info["paired_ratio"] = statistics.median(ratios)
    benchmark.extra_info["baseline_median"] = statistics.median(baseline[-len(times) :])
    correct = as_lines(contender, CONTENDERS[contender](*args)) == expected_lines(input_name)
    benchmark.extra_info["correct"] = correct
    assert correct, f"{contender} returned the wrong lines"
