"""sidecar_sync.dist on one machine against the local engine, all measured in the same run.

Replay, on two generated corpora (``bench/transcript.py``, page cache warm):

* ``many``: ``--small-files`` files of ``--small-size`` (default 2,000 x 95 KB);
* ``few``: ``--big-files`` files of ``--big-size`` (default 24 x 8 MiB).

Contenders, each round in turn (so background load hits all alike), medians reported:

* ``local jobs=1``   ``sidecar_sync.replay.replay(files)`` — the baseline;
* ``local jobs=2``   the same with two worker processes (fork);
* ``dask 64 MiB``    ``dist.replay(files, client=c)`` on a LocalCluster of 2 single-thread
                     worker processes started once, outside the timing (default batching),
                     with ``MALLOC_MMAP_THRESHOLD_`` as ``dist`` starts its own local
                     clusters (``--plain-malloc``: without);
* ``dask 8 MiB``     ``batch_bytes=8 MiB``;
* ``dask 1 file``    ``batch_bytes=1``: one task per file (the issue's "2.5-5x slower").

Wall seconds and CPU seconds (this process, reaped children, and the dask worker
processes, read with ``client.run(time.process_time)``): on a shared machine the CPU
figures are the steadier ones. Every result is checked against the baseline summary
after timing. One untimed
warm-up round first (a worker's first task opens its connection to the scheduler).

Per-task overhead, on the same cluster: ``--tasks`` no-op dask tasks, then as many
empty replay tasks of ``dist`` (claim on the scheduler, an empty replay, the
``finish`` record, the result fetched): wall seconds per task.

Sessions: ``--sessions`` echo sessions (one turn of ``--delay`` seconds each) through
one local ``SidecarManager`` (the baseline) and through ``dist.run_sessions`` on a
LocalCluster of 2 workers x ``per_worker`` threads with the ``sessions`` resource.

Usage::

    python bench/bench_dist.py                      # the tables of bench/README.md
    python bench/bench_dist.py --rounds 3 --skip-sessions --json out.json
    python bench/bench_dist.py --versions
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import dask
import distributed
import orjson

from bench.transcript import build_block, parse_size
from sidecar_sync import SidecarManager, __version__, dist
from sidecar_sync.dist._engine import PRE_SPAWN, SPAWN_ENV
from sidecar_sync.dist._replay import replay_batch
from sidecar_sync.replay import ReplaySummary, replay

dd: Any = distributed
QUIET: dict[str, Any] = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}


def make_corpus(root: Path, name: str, files: int, size: int, seed: int) -> list[str]:
    """``files`` transcripts of about ``size`` bytes, cut from one seeded ``small`` block (mostly ~300 B lines)."""
    data, _ = build_block("small", files * size, seed=seed)
    lines = data.splitlines(keepends=True)
    out: list[str] = []
    chunk: list[bytes] = []
    held = 0
    for line in lines:
        chunk.append(line)
        held += len(line)
        if held >= size and len(out) < files - 1:
            out.append(_write(root / f"{name}-{len(out):05d}.ndjson", chunk))
            chunk, held = [], 0
    out.append(_write(root / f"{name}-{len(out):05d}.ndjson", chunk))
    return out


def _write(path: Path, lines: list[bytes]) -> str:
    path.write_bytes(b"".join(lines))
    return str(path)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def cpu_seconds(client: Any) -> float:
    """CPU seconds so far of this process, its reaped children (``jobs=2`` workers) and the dask workers."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = float(sum(client.run(time.process_time).values()))
    return time.process_time() + children.ru_utime + children.ru_stime + workers


def bench_replay(client: Any, corpora: dict[str, list[str]], rounds: int) -> dict[str, dict[str, float]]:
    contenders: dict[str, Callable[[list[str]], ReplaySummary]] = {
        "local jobs=1": lambda f: replay(f),
        "local jobs=2": lambda f: replay(f, jobs=2, start_method="fork"),
        "dask 64 MiB": lambda f: dist.replay(f, client=client),
        "dask 8 MiB": lambda f: dist.replay(f, client=client, batch_bytes=8 * 2**20),
        "dask 1 file": lambda f: dist.replay(f, client=client, batch_bytes=1),
    }
    out: dict[str, dict[str, float]] = {}
    for corpus, files in corpora.items():
        baseline = replay(files)  # also warms the page cache
        for fn in contenders.values():
            fn(files)  # warm-up, not timed: the workers' first task connects them to the scheduler
        times: dict[str, list[float]] = {name: [] for name in contenders}
        cpus: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, fn in contenders.items():
                cpu = cpu_seconds(client)
                seconds, summary = timed(partial(fn, files))
                cpus[name].append(cpu_seconds(client) - cpu)
                if summary != baseline:
                    raise SystemExit(f"FAILED: {name} on {corpus}: the summary differs from the local one")
                times[name].append(seconds)
        base = statistics.median(times["local jobs=1"])
        base_cpu = statistics.median(cpus["local jobs=1"])
        size = sum(os.path.getsize(f) for f in files)
        print(f"\n## replay, {corpus}: {len(files):,} files, {size / 2**20:,.0f} MiB (medians of {rounds})\n")
        print("| contender | wall s | MiB/s | x local jobs=1 (wall) | CPU s | x local jobs=1 (CPU) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, values in times.items():
            median = statistics.median(values)
            cpu = statistics.median(cpus[name])
            print(
                f"| {name} | {median:.2f} | {size / 2**20 / median:,.0f} | {median / base:.2f} "
                f"| {cpu:.2f} | {cpu / base_cpu:.2f} |"
            )
            out[f"{corpus}/{name}"] = {
                "wall_s": median,
                "mib_s": size / 2**20 / median,
                "x_baseline": median / base,
                "cpu_s": cpu,
                "x_baseline_cpu": cpu / base_cpu,
            }
    return out


def bench_overhead(client: Any, tasks: int, rounds: int) -> dict[str, float]:
    def noop(i: int) -> int:
        return i

    def plain() -> None:
        futures = [client.submit(noop, i, key=f"noop-{time.monotonic_ns()}-{i}", pure=False) for i in range(tasks)]
        client.gather(futures)

    def claimed() -> None:
        run = f"bench-{time.monotonic_ns()}"
        futures = [
            client.submit(replay_batch, run, f"{run}-{i}", [], os.getcwd(), {}, "raise", key=f"{run}-{i}", pure=False)
            for i in range(tasks)
        ]
        client.gather(futures)
        client.set_metadata(["sidecar-sync-claims", run], None)

    result: dict[str, list[float]] = {"dask no-op task": [], "dist replay task (claim + finish)": []}
    for _ in range(rounds):
        result["dask no-op task"].append(timed(plain)[0] / tasks)
        result["dist replay task (claim + finish)"].append(timed(claimed)[0] / tasks)
    print(f"\n## per-task overhead: {tasks:,} tasks, 2 workers x 1 thread (medians of {rounds})\n")
    print("| task | ms per task (wall) |")
    print("|---|---:|")
    out = {}
    for name, values in result.items():
        out[name] = statistics.median(values) * 1000
        print(f"| {name} | {out[name]:.2f} |")
    return out


def bench_sessions(count: int, delay: float, per_worker: int) -> dict[str, float]:
    config = {"delay": delay}

    def local() -> int:
        with SidecarManager() as manager:
            for i in range(count):
                manager.start_session(f"l{i}", "echo", "hello", provider_config=config)
            states = [manager.wait(f"l{i}", timeout=600) for i in range(count)]
        return sum(s.status == "idle" for s in states)

    started = time.perf_counter()
    with dd.LocalCluster(
        n_workers=2, threads_per_worker=per_worker, resources={"sessions": per_worker}, processes=True, **QUIET
    ) as cluster, dd.Client(cluster, set_as_default=False) as client:
        startup = time.perf_counter() - started
        dist.preflight(client)

        def remote() -> int:
            specs = [{"session_id": f"d{i}", "provider": "echo", "prompt": "hello", "provider_config": config}
                     for i in range(count)]  # fmt: skip
            results = dist.run_sessions(
                specs, client=client, per_worker=per_worker, collect_messages=False, timeout=600
            )
            return sum(r.ok for r in results)

        local_s, local_ok = timed(local)
        remote_s, remote_ok = timed(remote)
    if local_ok != count or remote_ok != count:
        raise SystemExit(f"FAILED: sessions ok: local {local_ok}/{count}, dask {remote_ok}/{count}")
    print(f"\n## sessions: {count} echo sessions of one {delay:g} s turn\n")
    print("| contender | wall s | x local manager |")
    print("|---|---:|---:|")
    print(f"| one local SidecarManager (baseline) | {local_s:.2f} | 1.00 |")
    print(f"| dist.run_sessions, 2 workers x {per_worker} | {remote_s:.2f} | {remote_s / local_s:.2f} |")
    print(f"\n(cluster start-up, not timed above: {startup:.2f} s)")
    return {"local_s": local_s, "dask_s": remote_s, "cluster_startup_s": startup}


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "sidecar_sync": __version__,
        "dask": dd.__version__,
        "orjson": orjson.__version__,
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small-files", type=int, default=2000)
    parser.add_argument("--small-size", default="95K")
    parser.add_argument("--big-files", type=int, default=24)
    parser.add_argument("--big-size", default="8M")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds of each session's turn")
    parser.add_argument("--per-worker", type=int, default=50)
    parser.add_argument("--skip-sessions", action="store_true")
    parser.add_argument(
        "--plain-malloc", action="store_true", help="dask's worker environment as is (no MALLOC_MMAP_THRESHOLD_)"
    )
    parser.add_argument("--json", dest="json_out", help="also write the results as JSON here")
    parser.add_argument("--versions", action="store_true", help="print the versions and exit")
    args = parser.parse_args(argv)
    if args.versions:
        print(json.dumps(versions(), indent=2))
        return 0
    print(f"# {json.dumps(versions())}; load {os.getloadavg()[0]:.1f}")
    results: dict[str, Any] = {"versions": versions()}
    with tempfile.TemporaryDirectory(prefix="bench-dist-") as tmp:
        root = Path(tmp)
        corpora = {
            "many": make_corpus(root, "many", args.small_files, parse_size(args.small_size), seed=1),
            "few": make_corpus(root, "few", args.big_files, parse_size(args.big_size), seed=2),
        }
        started = time.perf_counter()
        spawn_env = {} if args.plain_malloc else {f"{PRE_SPAWN}.{k}": v for k, v in SPAWN_ENV.items()}
        with dask.config.set(spawn_env):
            cluster = dd.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, **QUIET)
        with cluster, dd.Client(cluster, set_as_default=False) as client:
            results["cluster_startup_s"] = time.perf_counter() - started
            print(f"\nLocalCluster(2 x 1 thread) started in {results['cluster_startup_s']:.2f} s")
            dist.preflight(client)
            results["replay"] = bench_replay(client, corpora, args.rounds)
            results["overhead_ms"] = bench_overhead(client, args.tasks, args.rounds)
    if not args.skip_sessions:
        results["sessions"] = bench_sessions(args.sessions, args.delay, args.per_worker)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
