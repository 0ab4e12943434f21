"""End-to-end speed of the runner programs, each in a fresh subprocess.

Measures, in one run so the figures can be read as ratios:

* **replay** at full pace: a transcript built from the real recordings in
  tests/data/runners (repeated up to ``--size-mb``), replayed to ``/dev/null``
  and through a pipe into a reader loop; baseline ``cat`` the same file the
  same two ways.
* **echo** throughput: one turn of ``--events`` assistant chunks to ``/dev/null``.
* **start-up**: spawn to ``ready`` for echo, replay and ollama, against
  ``python -c pass`` (the interpreter alone) as the baseline.

Every figure is the best of ``--repeat`` runs, and each output is checked (byte
count or line count) before it is reported: fast and wrong is worthless.

Usage: ``python bench/bench_runners.py [--size-mb 200] [--events 1000000] [--repeat 3] [--json]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "runners"


def build_transcript(path: Path, size: int) -> int:
    """Write the real recordings, repeated, until ``size`` bytes; return the size."""
    # Claude recordings only: they have no protocol-typed lines, so the replay
    # output must equal the file byte for byte (checked below).
    data = b"".join(p.read_bytes() for p in sorted(DATA.glob("claude_*.jsonl")))
    with path.open("wb") as out:
        written = 0
        while written < size:
            out.write(data)
            written += len(data)
    return written


def query(config: dict, prompt: str = "bench") -> bytes:
    return orjson.dumps({"type": "query", "sessionId": "bench", "prompt": prompt, "providerConfig": config}) + b"\n"


def runner_argv(name: str) -> list[str]:
    return [sys.executable, "-m", f"sidecar_sync.runners.{name}"]


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def to_devnull(argv: list[str], stdin: bytes) -> None:
    with open(os.devnull, "wb") as null:
        subprocess.run(argv, input=stdin, stdout=null, check=True, timeout=600)


def through_pipe(argv: list[str], stdin: bytes, expect_at_least: int) -> None:
    """Run ``argv`` and read its stdout like the manager does (os.read loop)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    fd = proc.stdout.fileno()
    total = 0
    while chunk := os.read(fd, 1 << 20):
        total += len(chunk)
    proc.stdout.close()
    if proc.wait(600) != 0 or total < expect_at_least:
        raise RuntimeError(f"{argv}: exit {proc.returncode}, {total} bytes")


def check_replay_output(path: Path, size: int) -> None:
    """The replay of the transcript is ready + agent_started + the file + agent_stopped."""
    out = subprocess.run(
        runner_argv("replay"), input=query({"transcript": str(path)}), capture_output=True, check=True, timeout=600
    ).stdout
    head = b'{"type":"ready"}\n{"type":"agent_started"}\n'
    tail = b'{"type":"agent_stopped"}\n'
    if not (out.startswith(head) and out.endswith(tail) and len(out) == len(head) + size + len(tail)):
        raise RuntimeError("replay output differs from the transcript")
    body = memoryview(out)[len(head) : len(out) - len(tail)]
    if hashlib.sha256(body).digest() != hashlib.sha256(path.read_bytes()).digest():
        raise RuntimeError("replay output differs from the transcript")


def startup(name: str) -> None:
    proc = subprocess.Popen(runner_argv(name), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    proc.stdin.close()
    proc.wait(30)
    proc.stdout.close()
    if line != b'{"type":"ready"}\n':
        raise RuntimeError(f"{name}: no ready line ({line!r})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sidecar-bench-") as tmp:
        path = Path(tmp) / "transcript.jsonl"
        size = build_transcript(path, args.size_mb * 2**20)
        check_replay_output(path, size)
        replay_stdin = query({"transcript": str(path)})
        mb = size / 1e6
        results["cat_devnull_MBps"] = mb / timed(lambda: to_devnull(["cat", str(path)], b""), args.repeat)
        results["cat_pipe_MBps"] = mb / timed(lambda: through_pipe(["cat", str(path)], b"", size), args.repeat)
        results["replay_devnull_MBps"] = mb / timed(
            lambda: to_devnull(runner_argv("replay"), replay_stdin), args.repeat
        )
        results["replay_pipe_MBps"] = mb / timed(
            lambda: through_pipe(runner_argv("replay"), replay_stdin, size), args.repeat
        )

    echo_stdin = query({"chunks": args.events}, prompt="x" * 40)
    count = subprocess.run(runner_argv("echo"), input=echo_stdin, capture_output=True, check=True).stdout.count(b"\n")
    if count != args.events + 5:  # ready, started, init, chunks, result, stopped
        raise RuntimeError(f"echo wrote {count} lines, expected {args.events + 5}")
    results["echo_devnull_events_per_s"] = args.events / timed(
        lambda: to_devnull(runner_argv("echo"), echo_stdin), args.repeat
    )

    results["python_pass_ms"] = 1000 * timed(
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.repeat * 3
    )
    for name in ("echo", "replay", "ollama"):
        results[f"{name}_ready_ms"] = 1000 * timed(lambda n=name: startup(n), args.repeat * 3)

    if args.json:
        meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
        print(json.dumps({"meta": meta, "size_bytes": size, "events": args.events, "results": results}, indent=2))
        return
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"transcript {size / 2**20:.0f} MiB"
    )
    print(f"{'figure':32} {'value':>14}  ratio")
    base = {
        "replay_devnull_MBps": "cat_devnull_MBps",
        "replay_pipe_MBps": "cat_pipe_MBps",
        **{f"{n}_ready_ms": "python_pass_ms" for n in ("echo", "replay", "ollama")},
    }
    for key, value in results.items():
        ratio = f"{value / results[base[key]]:.2f}x {base[key]}" if key in base else ""
        print(f"{key:32} {value:14,.1f}  {ratio}")


if __name__ == "__main__":
    main()
