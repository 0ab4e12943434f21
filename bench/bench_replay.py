"""Replay throughput against its baselines, all measured in the same run, interleaved.

What is timed, on the same ~1 GB transcript from ``bench/transcript.py`` (page cache warm):

* ``floor``      read the file in 4 MiB ``os.read`` chunks, split lines, ``orjson.loads``
                 every line — the least work any replay must do (no framing caps, no
                 adapters, nothing kept).
* ``floor-lines``  ``for line in open(path, "rb"): orjson.loads(line)`` (for reference).
* ``naive``      ``for line in open(path): json.loads(line)`` + ``parse_message("claude", ...)``.
* ``replay``     ``sidecar_sync.replay.replay(path)`` — the Python API, provider ``auto``.
* ``replay-claude``  the same with ``provider="claude"``.
* ``cli``        ``sidecar-sync replay --summary FILE`` as a subprocess (start-up included).

Then, on the same bytes split into many files (``--files``, default 16), the summary
rate with ``jobs=1`` against ``jobs=2`` (spawn and fork).

Each round runs every contender once, in turn, so background load hits all of them
alike; the report gives medians of wall-clock and CPU seconds (this process plus
reaped children) and their ratios to ``floor`` (and, for ``--jobs``, wall-clock
rates against ``jobs=1``). On a shared machine CPU seconds are the steadier
measure; read ratios, not absolute rates.

Usage::

    python bench/bench_replay.py --variant mixed --size 1G --rounds 5
    python bench/bench_replay.py --file my.ndjson --rounds 3 --skip naive
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.transcript import ensure, parse_size
from sidecar_sync.adapters import parse_message
from sidecar_sync.replay import replay

CHUNK = 4 * 2**20


def floor(path: str) -> int:
    """Read in big chunks, split, orjson.loads every line; return the line count."""
    loads = orjson.loads
    fd = os.open(path, os.O_RDONLY)
    carry = b""
    n = 0
    try:
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            lines = (carry + data).split(b"\n") if carry else data.split(b"\n")
            carry = lines.pop()
            for line in lines:
                if line:
                    loads(line)
                    n += 1
    finally:
        os.close(fd)
    if carry.strip():
        loads(carry)
        n += 1
    return n


def floor_lines(path: str) -> int:
    loads = orjson.loads
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                loads(line)
                n += 1
    return n


def naive(path: str) -> int:
    """The obvious way: text-mode line iteration, json.loads, one parse_message per event."""
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                n += len(parse_message("claude", json.loads(line)))
    return n


def api(path: str) -> int:
    return replay(path).messages


def api_claude(path: str) -> int:
    return replay(path, provider="claude").messages


def cli(path: str) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "sidecar_sync", "replay", "--summary", "--json", "--no-progress", path],
        capture_output=True,
        check=True,
        cwd=REPO,
    ).stdout
    return orjson.loads(out)["messages"]


CONTENDERS: dict[str, Callable[[str], int]] = {
    "floor": floor,
    "floor-lines": floor_lines,
    "naive": naive,
    "replay": api,
    "replay-claude": api_claude,
    "cli": cli,
}


def split_file(path: str, parts: int, out_dir: str) -> list[str]:
    """Cut ``path`` into ``parts`` files of about equal size, at line boundaries."""
    size = os.path.getsize(path)
    target = size // parts
    files = []
    with open(path, "rb") as src:
        for i in range(parts):
            name = os.path.join(out_dir, f"part-{i:03d}.ndjson")
            with open(name, "wb") as dst:
                written = 0
                while written < target or i == parts - 1:
                    block = src.read(CHUNK)
                    if not block:
                        break
                    dst.write(block)
                    written += len(block)
                    if written >= target and i != parts - 1:
                        dst.write(src.readline())  # finish the line
                        break
            files.append(name)
    return files


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the ``cli`` contender)."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    gc.collect()
    cpu = _cpu()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, _cpu() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="mixed", choices=["small", "mixed", "flood"])
    parser.add_argument("--size", default="1G", help="transcript size (default 1G)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--file", help="use this NDJSON file instead of a generated one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", action="append", default=[], help="contender to leave out (repeatable)")
    parser.add_argument("--files", type=int, default=16, help="parts for the --jobs measurement (0 to skip)")
    parser.add_argument("--only-jobs", action="store_true", help="measure only jobs=1 against jobs=2")
    parser.add_argument("--json", dest="json_out", help="also write the results as JSON here")
    args = parser.parse_args(argv)

    if args.file:
        path = args.file
    else:
        path = str(ensure(args.variant, parse_size(args.size), seed=args.seed)[0])
    size = os.path.getsize(path)
    print(
        f"# {path}: {size / 2**20:,.0f} MiB; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}; "
        f"python {sys.version.split()[0]}"
    )
    floor(path)  # warm the page cache
    load_start = os.getloadavg()[0]

    names = [] if args.only_jobs else [n for n in CONTENDERS if n not in args.skip]
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names:
            w, c = timed(lambda fn=CONTENDERS[name]: fn(path))
            wall[name].append(w)
            cpu[name].append(c)
        print(f"round {r + 1}: " + "  ".join(f"{n} {wall[n][-1]:.2f}s/{cpu[n][-1]:.2f}s" for n in names), flush=True)

    results: dict[str, object] = {"file": path, "bytes": size, "rounds": args.rounds, "load_start": load_start}
    base_w = statistics.median(wall["floor"]) if "floor" in wall else float("nan")
    base_c = statistics.median(cpu["floor"]) if "floor" in cpu else float("nan")
    if names:
        print(f"\n{'contender':<15} {'wall s':>7} {'x floor':>8} {'cpu s':>7} {'x floor':>8} {'MiB/cpu-s':>10}")
    for name in names:
        mw, mc = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:<15} {mw:7.2f} {mw / base_w:8.2f} {mc:7.2f} {mc / base_c:8.2f} {size / 2**20 / mc:10.0f}")
        results[name] = {"wall": wall[name], "cpu": cpu[name], "x_floor_wall": mw / base_w, "x_floor_cpu": mc / base_c}
    if "naive" in wall and "replay" in wall and names:
        sw = statistics.median(wall["naive"]) / statistics.median(wall["replay"])
        sc = statistics.median(cpu["naive"]) / statistics.median(cpu["replay"])
        print(f"replay vs naive: {sw:.2f}x faster (wall), {sc:.2f}x (cpu)")
        results["replay_vs_naive"] = {"wall": sw, "cpu": sc}

    if args.files > 1:
        with tempfile.TemporaryDirectory(prefix="bench-replay-", dir=os.path.dirname(path)) as tmp:
            parts = split_file(path, args.files, tmp)
            single = replay(parts)  # warm, and the reference summary
            modes = {"jobs1": lambda: replay(parts)}
            for method in ("spawn", "fork"):
                modes[f"jobs2-{method}"] = lambda m=method: replay(parts, jobs=2, start_method=m)
            jtimes: dict[str, list[float]] = {m: [] for m in modes}
            jcpu: dict[str, list[float]] = {m: [] for m in modes}
            for r in range(args.rounds):
                for mode, fn in modes.items():
                    w, c = timed(fn)
                    jtimes[mode].append(w)
                    jcpu[mode].append(c)
                print(f"jobs round {r + 1}: " + "  ".join(f"{m} {jtimes[m][-1]:.2f}s" for m in modes), flush=True)
            assert replay(parts, jobs=2) == single, "the parallel summary differs"
            j1 = statistics.median(jtimes["jobs1"])
            b1 = min(jtimes["jobs1"])
            c1 = statistics.median(jcpu["jobs1"])
            print(
                f"\n{args.files} files: {'mode':<12} {'wall med':>9} {'rate x':>7} {'wall best':>10} {'rate x':>7}"
                f" {'cpu med':>8} {'cpu x':>6}"
            )
            for mode in modes:
                med, best, cmed = statistics.median(jtimes[mode]), min(jtimes[mode]), statistics.median(jcpu[mode])
                print(
                    f"{'':<{len(str(args.files)) + 8}}{mode:<12} {med:9.2f} {j1 / med:7.2f}"
                    f" {best:10.2f} {b1 / best:7.2f}"
                    f" {cmed:8.2f} {cmed / c1:6.2f}"
                )
                results[mode] = {
                    "wall": jtimes[mode],
                    "cpu": jcpu[mode],
                    "x_jobs1_rate_median": j1 / med,
                    "x_jobs1_rate_best": b1 / best,
                    "x_jobs1_cpu": cmed / c1,
                }
    print(f"# load at the end: {os.getloadavg()[0]:.1f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
