"""Manager end-to-end: one runner, a realistic Claude transcript at full speed, a counting callback.

``python bench/bench_manager.py [--size 256M] [--flood-size 1G] [--runs 5] [--json FILE] [--quick]``

What is measured (each measurement in a fresh Python subprocess, contenders alternating):

* **manager** — ``SidecarManager`` starts the emitter below as a custom provider
  (``register_provider``), the session's stdout thread reads, frames, parses, routes
  and adapts (claude adapter), and a callback counts the messages; the clock stops
  when ``wait()`` returns (the ``agent_stopped`` after the last event was handled).
* **naive** — the baseline: ``subprocess.Popen`` + ``readline`` (iterating the
  buffered pipe) + ``json.loads`` + the same claude stream adapter, one event at a
  time, in the calling thread.

The emitter (``bench/manager_emitter.py``) answers the first query by writing a
pre-built file with ``sendfile(2)``: each line of a seeded ``bench/transcript.py``
transcript wrapped in ``{"type":"agent_event","event":...}``, as the claude runner
forwards CLI output, then ``agent_stopped``. Both contenders read the same bytes, and
every run is checked after timing: messages counted == what the transcript implies.

Scenarios: throughput on the ``small`` (mostly ~300 B stream events) and ``mixed``
(plus tool results up to 5 MB) transcripts; then a ``flood`` transcript of
``--flood-size`` (1 GiB by default) for the peak RSS of the manager process (its
``VmHWM``, next to its RSS after imports) and CPU seconds per GB.

Results are medians over ``--runs``; ratios are naive / manager (time, and CPU time of
the supervising process) from the same run. The machine may be shared: read the
ratios, and prefer the CPU figures, which a busy machine disturbs much less than wall
time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

EMITTER = BENCH / "manager_emitter.py"
CONTENDERS = ("manager", "naive")


# -- the transcript -------------------------------------------------------------------------


def wrapped_transcript(variant: str, size: int, seed: int = 1) -> tuple[Path, int, int]:
    """A cached transcript with every line wrapped in ``agent_event``.

    Returns:
        ``(path, bytes, expected_messages)``.
    """
    from bench.transcript import ensure
    from sidecar_sync import parse_message

    raw, info = ensure(variant, size, seed)
    wrapped = raw.with_name(raw.stem + ".agent_event.ndjson")
    if not wrapped.exists() or wrapped.stat().st_mtime < raw.stat().st_mtime:
        tmp = wrapped.with_name(f".{wrapped.name}.{os.getpid()}.tmp")
        head, tail = b'{"type":"agent_event","event":', b"}\n"
        with open(raw, "rb") as src, open(tmp, "wb") as dst:
            for line in src:
                line = line.strip()
                if line:
                    dst.write(head + line + tail)
        os.replace(tmp, wrapped)
    expected = info.expected_messages(lambda event: parse_message("claude", event))
    return wrapped, wrapped.stat().st_size, expected


# -- the contenders (each runs in its own subprocess) ---------------------------------------


def _rss_now() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss() -> int:
    """Peak RSS of this process (``VmHWM``). Not ``ru_maxrss``: Linux carries that over
    ``fork`` + ``exec``, so a child would report its parent's peak if that was higher."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run_manager(path: str) -> dict[str, Any]:
    from sidecar_sync import SidecarManager

    count = 0

    def on_message(session_id: str, messages: list) -> None:
        nonlocal count
        count += len(messages)

    base_rss = _rss_now()
    with SidecarManager() as manager:
        manager.register_provider("bench", [sys.executable, str(EMITTER), path])
        cpu0, t0 = _cpu(), time.perf_counter()
        manager.start_session("bench", "bench", "go", on_message=on_message)
        state = manager.wait("bench", timeout=600)
        elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "messages": count,
        "status": state.status,
        "invalid": state.invalid_lines,
        "dropped": state.dropped_lines,
        "base_rss": base_rss,
        "maxrss": _maxrss(),
    }


def run_naive(path: str) -> dict[str, Any]:
    from sidecar_sync import new_stream_adapter

    base_rss = _rss_now()
    adapter = new_stream_adapter("claude")
    count = 0
    cpu0, t0 = _cpu(), time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(EMITTER), path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b'{"type":"query","sessionId":"bench","prompt":"go"}\n')
    proc.stdin.flush()
    for line in proc.stdout:
        obj = json.loads(line)
        kind = obj.get("type")
        if kind == "agent_event":
            count += len(adapter.adapt(obj["event"]))
        elif kind == "agent_stopped":
            break
    elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    proc.stdin.close()
    proc.wait(60)
    return {"elapsed": elapsed, "cpu": cpu, "messages": count, "status": "done", "invalid": 0, "dropped": 0,
            "base_rss": base_rss, "maxrss": _maxrss()}


def measure(contender: str, path: Path) -> dict[str, Any]:
    """Run one contender once in a fresh interpreter; return its JSON report."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", contender, str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{contender} failed (exit {out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the scenarios ----------------------------------------------------------------------------


def throughput(variant: str, size: int, runs: int) -> dict[str, Any]:
    path, nbytes, expected = wrapped_transcript(variant, size)
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
    for i in range(runs):
        order = CONTENDERS if i % 2 == 0 else tuple(reversed(CONTENDERS))
        for contender in order:
            report = measure(contender, path)
            if report["messages"] != expected or report["status"] != "idle" and contender == "manager":
                raise RuntimeError(f"{contender} on {variant}: {report} but expected {expected} messages")
            results[contender].append(report)
    summary: dict[str, Any] = {"variant": variant, "bytes": nbytes, "messages": expected, "runs": runs}
    for contender, reports in results.items():
        t = statistics.median(r["elapsed"] for r in reports)
        summary[contender] = {
            "seconds": t,
            "msgs_per_s": expected / t,
            "mb_per_s": nbytes / t / 1e6,
            "cpu_s": statistics.median(r["cpu"] for r in reports),
            "msgs_per_cpu_s": expected / statistics.median(r["cpu"] for r in reports),
            "all_seconds": [round(r["elapsed"], 3) for r in reports],
        }
    summary["speedup"] = summary["naive"]["seconds"] / summary["manager"]["seconds"]
    summary["cpu_ratio"] = summary["naive"]["cpu_s"] / summary["manager"]["cpu_s"]
    return summary


def flood(size: int, runs: int) -> dict[str, Any]:
    path, nbytes, expected = wrapped_transcript("flood", size)
    out: dict[str, Any] = {"variant": "flood", "bytes": nbytes, "messages": expected, "runs": runs}
    for contender in CONTENDERS:
        reports = []
        for _ in range(runs):
            report = measure(contender, path)
            if report["messages"] != expected:
                raise RuntimeError(f"{contender} flood: {report} but expected {expected} messages")
            reports.append(report)
        t = statistics.median(r["elapsed"] for r in reports)
        out[contender] = {
            "seconds": t,
            "mb_per_s": nbytes / t / 1e6,
            "cpu_s_per_gb": statistics.median(r["cpu"] for r in reports) / (nbytes / 1e9),
            "base_rss_mib": statistics.median(r["base_rss"] for r in reports) / 2**20,
            "peak_rss_mib": max(r["maxrss"] for r in reports) / 2**20,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.transcript import parse_size

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=parse_size, default=parse_size("256M"), help="throughput transcript size")
    p.add_argument("--flood-size", type=parse_size, default=parse_size("1G"), help="flood transcript size")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--quick", action="store_true", help="16M / 64M, one run: a smoke test")
    p.add_argument("--child", nargs=2, metavar=("CONTENDER", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        contender, path = args.child
        report = run_manager(path) if contender == "manager" else run_naive(path)
        print(json.dumps(report))
        return 0
    if args.quick:
        args.size, args.flood_size, args.runs = 16 * 2**20, 64 * 2**20, 1

    import orjson

    from sidecar_sync import framer

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at start",
        "framer": framer.BACKEND,
        "orjson": orjson.__version__,
        "throughput": [],
    }
    for variant in ("small", "mixed"):
        summary = throughput(variant, args.size, args.runs)
        results["throughput"].append(summary)
        m, n = summary["manager"], summary["naive"]
        print(
            f"{variant:6} {summary['bytes'] / 2**20:6.0f} MiB {summary['messages']:>9} msgs | "
            f"manager {m['msgs_per_s'] / 1e3:7.0f} kmsg/s {m['mb_per_s']:6.0f} MB/s | "
            f"naive {n['msgs_per_s'] / 1e3:7.0f} kmsg/s {n['mb_per_s']:6.0f} MB/s | "
            f"wall x{summary['speedup']:.2f}, CPU x{summary['cpu_ratio']:.2f} "
            f"({m['msgs_per_cpu_s'] / 1e3:.0f} vs {n['msgs_per_cpu_s'] / 1e3:.0f} kmsg per CPU-s)",
            flush=True,
        )
    result = flood(args.flood_size, max(1, args.runs // 2))
    results["flood"] = result
    for contender in CONTENDERS:
        r = result[contender]
        print(
            f"flood  {result['bytes'] / 2**20:6.0f} MiB {contender:7} {r['mb_per_s']:6.0f} MB/s "
            f"{r['cpu_s_per_gb']:5.2f} CPU s/GB, RSS {r['base_rss_mib']:.0f} MiB after imports, "
            f"peak {r['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    results["load_at_end"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
