"""sidecar_sync against its peers, side by side, in one run: ``python bench/peers.py``.

Every contender supervises the same runner program (``bench/peers/emitter.c``, compiled
here): when it gets its first query it writes a seeded Claude Code stream-json transcript
(``bench/transcript.py``) to stdout with sendfile(2) and ends the turn. Each contender runs
in a fresh subprocess per measurement (``bench/peers/driver.py``, or
``bench/peers/seed/driver.ts`` under Bun), and every run is checked after timing: the
messages delivered must equal what the transcript implies for that contender.

Contenders (``--peers``, comma-separated):

=============  ==========================================================================
sidecar_c      sidecar_sync ``SidecarManager`` with the C framer (the baseline of every ratio)
sidecar_py     the same with ``PyLineFramer`` (``SIDECAR_SYNC_FRAMER=python``)
sidecar_ref    with ``--compare CHECKOUT``: ``sidecar_c`` from another checkout (before/after)
seed_bun       the original TypeScript implementation's ``SidecarManager`` under Bun, with
               a bench-written message adapter (bench/peers/seed/message-adapter.ts);
               its source file is given with ``--seed-source PATH`` (or the environment
               variable ``SIDECAR_SYNC_BENCH_SEED``), else this peer is not run
naive          ``subprocess.Popen`` + ``readline`` + ``json.loads`` + sidecar_sync's adapter
sdk            the official ``claude-agent-sdk`` (``query()`` with ``cli_path``), own venv
plain          reference: the best plain Python loop (os.read + split + orjson.loads)
orjson         reference: ``orjson.loads`` alone over the lines in memory (per line, and a
               whole chunk parsed as one JSON array); no process, no pipe
=============  ==========================================================================

Scenarios: throughput with 1 and 16 concurrent sessions on the ``small`` and ``mixed``
transcripts (equal total bytes either way), time from starting a session to its first
message, a 1 GiB ``flood`` (peak RSS, CPU seconds per GB) and a transcript holding one
12 MiB line (peak RSS, and what each peer does with the line).

Bun (npm ``bun``) and the SDK (PyPI ``claude-agent-sdk``, ~170 MB with its bundled CLI)
are installed on first use into ``bench/.cache/`` (gitignored), never into the project.

Options: ``--quick`` (small sizes, 1 run: a smoke test), ``--runs N`` (default 3; medians),
``--peers a,b``, ``--json FILE``, ``--versions`` (print tool versions and exit),
``--seed-source PATH`` (the original implementation's ``sidecar-manager.ts``),
``--pin split`` (supervisor on CPU 0, emitter on CPU 1; default ``none``, see README).

Exit status: 1 if a sidecar_sync run failed its correctness check (other peers' failures,
like the SDK's on lines over 1 MiB, are findings and only reported), 2 if the baseline
could not run (no ratios), else 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench.transcript import TranscriptInfo, ensure

CACHE = BENCH / ".cache"
PEERS_DIR = BENCH / "peers"
SEED_ENV = "SIDECAR_SYNC_BENCH_SEED"  # the original implementation's sidecar-manager.ts, when not given by option
BUN_VERSION = "1.4.5"
SDK_VERSION = "0.2.187"
EMITTER = CACHE / "bin" / "sidecar-bench-emit"
BUN = CACHE / "bun" / "node_modules" / ".bin" / "bun"
SDK_PYTHON = CACHE / "sdk-venv" / "bin" / "python"
SEED_DIR = CACHE / "seed"
SEED_DRIVER = SEED_DIR / "ui-electrobun" / "src" / "bun" / "driver.ts"
MiB = 2**20
LINE_CAP = 10 * MiB  # sidecar_sync's and the original's default line cap
SPAWN_TIMEOUT = 1200.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def loud(msg: str) -> None:
    log(f"!!! {msg}")


# ── Contenders ──────────────────────────────────────────────────────────────


@dataclasses.dataclass(frozen=True)
class Contender:
    name: str
    label: str
    kind: str  # "py" (driver.py), "bun" (driver.ts), "ref" (orjson alone)
    peer: str = ""  # driver.py --peer
    env: tuple[tuple[str, str], ...] = ()
    line_cap: int | None = None  # lines longer than this are dropped by design
    counts_lines: bool = False  # delivers one item per line (SDK messages, plain loop)
    sdk: bool = False
    src: str = ""  # another checkout of this repository to import sidecar_sync from (--compare)


CONTENDERS = {
    c.name: c
    for c in (
        Contender("sidecar_c", "sidecar_sync (C framer)", "py", "sidecar", (("SIDECAR_SYNC_FRAMER", "c"),), LINE_CAP),
        Contender(
            "sidecar_py", "sidecar_sync (PyLineFramer)", "py", "sidecar", (("SIDECAR_SYNC_FRAMER", "python"),), LINE_CAP
        ),
        Contender("seed_bun", f"original TypeScript implementation under Bun {BUN_VERSION}", "bun", line_cap=LINE_CAP),
        Contender("naive", "naive Popen+readline+json.loads", "py", "naive"),
        Contender("sdk", f"claude-agent-sdk {SDK_VERSION}", "py", "sdk", (("SIDECAR_BENCH_END", "none"),),
                  counts_lines=True, sdk=True),  # fmt: skip
        Contender("plain", "ref: best plain loop (os.read+split+orjson)", "py", "plain", counts_lines=True),
        Contender("orjson", "ref: orjson.loads alone", "ref", counts_lines=True),
    )
}
BASELINE = "sidecar_c"


# ── Scenarios ───────────────────────────────────────────────────────────────


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    variant: str
    size: int  # transcript file size
    repeat: int  # times the emitter writes it per session
    sessions: int = 1
    mode: str = "tput"  # tput | ttfm
    count: int = 1  # ttfm: turns per process
    big_line: int | None = None


def scenarios(quick: bool) -> list[Scenario]:
    if quick:
        return [
            Scenario("small-1", "small, 1 session", "small", 1 * MiB, 16),
            Scenario("small-16", "small, 16 sessions", "small", 1 * MiB, 1, 16),
            Scenario("mixed-1", "mixed, 1 session", "mixed", 4 * MiB, 16),
            Scenario("mixed-16", "mixed, 16 sessions", "mixed", 4 * MiB, 1, 16),
            Scenario("ttfm", "time to first message", "small", 64 * 1024, 1, mode="ttfm", count=5),
            Scenario("flood", "flood 128 MiB", "flood", 64 * MiB, 2),
            Scenario("line12m", "one 12 MiB line", "small", 16 * MiB, 1, big_line=12 * MiB),
        ]
    return [
        Scenario("small-1", "small, 1 session", "small", 8 * MiB, 16),
        Scenario("small-16", "small, 16 sessions", "small", 8 * MiB, 1, 16),
        Scenario("mixed-1", "mixed, 1 session", "mixed", 16 * MiB, 16),
        Scenario("mixed-16", "mixed, 16 sessions", "mixed", 16 * MiB, 1, 16),
        Scenario("ttfm", "time to first message", "small", 64 * 1024, 1, mode="ttfm", count=15),
        Scenario("flood", "flood 1 GiB", "flood", 64 * MiB, 16),
        Scenario("line12m", "one 12 MiB line", "small", 16 * MiB, 1, big_line=12 * MiB),
    ]


# ── Setup: emitter, transcripts, Bun + the original's layout, SDK venv ───────


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


def build_emitter() -> None:
    src = PEERS_DIR / "emitter.c"
    if EMITTER.exists() and EMITTER.stat().st_mtime >= src.stat().st_mtime:
        return
    EMITTER.parent.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    r = run([cc, "-O2", "-Wall", "-Wextra", "-o", str(EMITTER), str(src)])
    if r.returncode:
        raise SystemExit(f"building the emitter with {cc} failed:\n{r.stderr}")


def emitter_speed(path: Path, repeat: int, pin: str) -> dict[str, float]:
    """GB/s of the emitter alone: to /dev/null, and through a pipe into ``cat`` (pinned like the peers)."""
    env = {**os.environ, "SIDECAR_BENCH_TRANSCRIPT": str(path), "SIDECAR_BENCH_REPEAT": str(repeat)}
    if pin == "split":
        env["SIDECAR_BENCH_CPU"] = "1"
    nbytes = path.stat().st_size * repeat
    out: dict[str, float] = {}
    with open(os.devnull, "wb") as null:
        t = time.perf_counter()
        subprocess.run([str(EMITTER)], input=b'{"type":"query"}\n', stdout=null, env=env, check=True, timeout=120)
        out["devnull_gbps"] = nbytes / (time.perf_counter() - t) / 1e9
        t = time.perf_counter()
        emit = subprocess.Popen([str(EMITTER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        cat = subprocess.Popen(["cat"], stdin=emit.stdout, stdout=null, preexec_fn=_pin_preexec(pin))
        assert emit.stdin is not None and emit.stdout is not None
        emit.stdout.close()
        emit.stdin.write(b'{"type":"query"}\n')
        emit.stdin.close()
        cat.wait(120)
        emit.wait(120)
        out["pipe_gbps"] = nbytes / (time.perf_counter() - t) / 1e9
    return out


def _pin_preexec(pin: str) -> Callable[[], None] | None:
    """For ``--pin split``: the supervising process (and its threads) on CPU 0; the emitter
    moves itself to CPU 1 (``SIDECAR_BENCH_CPU``)."""
    if pin != "split":
        return None

    def preexec() -> None:
        os.sched_setaffinity(0, {0})

    return preexec


def seed_source(option: str | None) -> Path | None:
    """The original implementation's ``sidecar-manager.ts``: the option, else the environment, else none."""
    given = option or os.environ.get(SEED_ENV)
    return Path(given) if given else None


def setup_bun(source: Path | None) -> str | None:
    """Install Bun and lay out the original implementation so its runner and 'node' lookups find the emitter."""
    if not BUN.exists():
        log(f"installing bun {BUN_VERSION} from npm into {BUN.parent.parent.parent} ...")
        if not shutil.which("npm"):
            return "npm not found (needed to install bun)"
        r = run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(CACHE / "bun"),
                 f"bun@{BUN_VERSION}"])  # fmt: skip
        if r.returncode or not BUN.exists():
            return f"npm install bun@{BUN_VERSION} failed: {r.stderr[-500:]}"
    if source is None:
        return f"not run: no source for the original implementation (give --seed-source PATH or set {SEED_ENV})"
    if not source.is_file():
        return f"not run: {source} (--seed-source or {SEED_ENV}) is not a file"
    src_dir = SEED_DRIVER.parent
    src_dir.mkdir(parents=True, exist_ok=True)
    text = source.read_text()
    start = text.find("// Sidecar Manager")  # the .txt export carries a commit header before the code
    (src_dir / "sidecar-manager.ts").write_text(text[start:] if start >= 0 else text)
    for name in ("message-adapter.ts", "driver.ts"):
        shutil.copyfile(PEERS_DIR / "seed" / name, src_dir / name)
    runner = SEED_DIR / "sidecar" / "dist" / "bench-runner.mjs"  # resolveRunnerPath("bench")
    runner.parent.mkdir(parents=True, exist_ok=True)
    runner.write_text("// bench: exists for the original's existsSync(runnerPath); the emitter ignores it\n")
    node = SEED_DIR / "bin" / "node"  # findNodeRuntime(): `which node` -> the emitter
    node.parent.mkdir(parents=True, exist_ok=True)
    if node.is_symlink() or node.exists():
        node.unlink()
    node.symlink_to(EMITTER)
    if shutil.which("deno"):
        return "deno is on PATH: the original's findNodeRuntime() would pick it over the emitter"
    return None


def setup_sdk() -> str | None:
    if SDK_PYTHON.exists():
        r = run([str(SDK_PYTHON), "-c", "import claude_agent_sdk; print(claude_agent_sdk.__version__)"])
        if r.returncode == 0 and r.stdout.strip() == SDK_VERSION:
            return None
    log(f"installing claude-agent-sdk=={SDK_VERSION} into {SDK_PYTHON.parent.parent} (~170 MB) ...")
    r = run([sys.executable, "-m", "venv", "--clear", str(SDK_PYTHON.parent.parent)])
    if r.returncode:
        return f"venv failed: {r.stderr[-300:]}"
    r = run([str(SDK_PYTHON), "-m", "pip", "install", "-q", f"claude-agent-sdk=={SDK_VERSION}"])
    if r.returncode:
        return f"pip install claude-agent-sdk=={SDK_VERSION} failed: {r.stderr[-500:]}"
    return None


def sidecar_available() -> str | None:
    """Whether the drivers (run with the same PYTHONPATH) can import the manager."""
    path = os.pathsep.join(x for x in (os.environ.get("PYTHONPATH"), str(REPO)) if x)
    r = run([sys.executable, "-c", "from sidecar_sync import SidecarManager"], cwd=PEERS_DIR,
            env={**os.environ, "PYTHONPATH": path})  # fmt: skip
    if r.returncode:
        return "sidecar_sync.SidecarManager is not importable yet: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return None


def versions(source: Path | None = None) -> dict[str, Any]:
    v: dict[str, Any] = {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "bun": BUN_VERSION,
        "claude_agent_sdk": SDK_VERSION,
    }
    try:
        import orjson

        v["orjson"] = orjson.__version__
    except ImportError:
        pass
    try:
        import sidecar_sync
        from sidecar_sync import framer

        v["sidecar_sync"] = getattr(sidecar_sync, "__version__", "?")
        v["framer_backend"] = framer.BACKEND
    except ImportError:
        pass
    if BUN.exists():
        v["bun"] = run([str(BUN), "--version"]).stdout.strip()
    if source is not None and source.is_file():
        v["seed_sha256"] = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cc = run([os.environ.get("CC", "cc"), "--version"]).stdout.splitlines()
    v["cc"] = cc[0] if cc else "?"
    git = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).stdout.strip()
    v["commit"] = git
    return v


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


# ── Running one measurement ─────────────────────────────────────────────────


def spawn(c: Contender, s: Scenario, transcript: Path, pin: str) -> dict[str, Any]:
    """Run contender ``c`` on scenario ``s`` in a fresh subprocess; return its result dict."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "ANTHROPIC_"))}
    env.update(SIDECAR_BENCH_TRANSCRIPT=str(transcript), SIDECAR_BENCH_REPEAT=str(s.repeat))
    env.update(dict(c.env))
    env["PYTHONPATH"] = os.pathsep.join(x for x in (os.environ.get("PYTHONPATH"), c.src or str(REPO)) if x)
    if pin == "split":
        env["SIDECAR_BENCH_CPU"] = "1"
    if c.kind == "bun":
        env["PATH"] = f"{SEED_DIR / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        cmd = [str(BUN), str(SEED_DRIVER), "--mode", s.mode, "--sessions", str(s.sessions), "--count", str(s.count)]
    elif c.kind == "ref":
        cmd = [sys.executable, str(PEERS_DIR / "parse_ref.py"), str(transcript)]
    else:
        python = str(SDK_PYTHON) if c.sdk else sys.executable
        if c.sdk:
            env.pop("PYTHONPATH", None)  # the SDK venv needs nothing from this repo
        cmd = [python, str(PEERS_DIR / "driver.py"), "--peer", c.peer, "--mode", s.mode,
               "--sessions", str(s.sessions), "--count", str(s.count), "--emitter", str(EMITTER)]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=SPAWN_TIMEOUT, preexec_fn=_pin_preexec(pin),
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"available": True, "errors": [f"timed out after {SPAWN_TIMEOUT} s"], "crashed": True}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("@@RESULT "):
            result: dict[str, Any] = json.loads(line[len("@@RESULT ") :])
            result.setdefault("available", True)
            if proc.returncode:
                result.setdefault("errors", []).append(f"exit code {proc.returncode}: {proc.stderr[-400:]}")
            return result
    return {
        "available": True,
        "crashed": True,
        "errors": [f"no result (exit code {proc.returncode}): {(proc.stderr or proc.stdout)[-800:]}"],
    }


def expected_per_session(c: Contender, info: TranscriptInfo, repeat: int) -> int:
    """Messages one session must deliver for contender ``c``."""
    if c.counts_lines:
        return info.lines * repeat
    from sidecar_sync.adapters import parse_message

    return info.expected_messages(lambda e: parse_message("claude", e), max_line=c.line_cap, repeat=repeat)


def _dedupe(errors: list[str]) -> list[str]:
    """Fold the same error from many sessions ("sdk-3: X", "sdk-7: X") into "2 sessions: X"."""
    groups: dict[str, list[str]] = {}
    for e in errors:
        head, sep, tail = e.partition(": ")
        groups.setdefault(tail if sep and " " not in head else e, []).append(e)
    return [f"{len(v)} sessions: {k}" if len(v) > 1 else v[0] for k, v in groups.items()]


def check(c: Contender, s: Scenario, info: TranscriptInfo, r: dict[str, Any]) -> str:
    """'ok' or what went wrong, judged after timing."""
    problems = _dedupe(r.get("errors") or [])
    want = expected_per_session(c, info, s.repeat)
    got = r.get("messages") or []
    wanted_sessions = s.count if s.mode == "ttfm" else s.sessions
    if len(got) != wanted_sessions:
        problems.append(f"{len(got)} sessions reported, {wanted_sessions} expected")
    bad = [g for g in got if g != want]
    if bad:
        problems.append(f"message count {bad[0]} != expected {want} in {len(bad)}/{len(got)} session(s)")
    return "ok" if not problems else "; ".join(problems)


# ── Aggregation and report ──────────────────────────────────────────────────


@dataclasses.dataclass
class Cell:
    runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    verdicts: list[str] = dataclasses.field(default_factory=list)
    unavailable: str | None = None

    def ok(self) -> bool:
        return bool(self.runs) and all(v == "ok" for v in self.verdicts)

    def median(self, metric: Callable[[dict[str, Any]], float | None]) -> float | None:
        vals = [v for v in (metric(r) for r in self.runs) if v is not None]
        return statistics.median(vals) if vals else None


def metrics(s: Scenario, info: TranscriptInfo) -> dict[str, Callable[[dict[str, Any]], float | None]]:
    nbytes = info.bytes * s.repeat * s.sessions

    def msgs_per_s(r: dict[str, Any]) -> float | None:
        return sum(r["messages"]) / r["wall_s"] if r.get("wall_s") else None

    def mb_per_s(r: dict[str, Any]) -> float | None:
        return nbytes / r["wall_s"] / 1e6 if r.get("wall_s") else None

    def cpu_per_gb(r: dict[str, Any]) -> float | None:
        return r["cpu_s"] / (nbytes / 1e9) if r.get("cpu_s") is not None and r.get("wall_s") else None

    def first_ms(r: dict[str, Any]) -> float | None:
        firsts = [f for f in r.get("first_s") or [] if f is not None and f >= 0]
        return statistics.median(firsts) * 1000 if firsts else None

    def hwm_mb(r: dict[str, Any]) -> float | None:
        return r["hwm_kb"] / 1024 if r.get("hwm_kb", -1) > 0 else None

    def growth_mb(r: dict[str, Any]) -> float | None:
        if r.get("hwm_kb", -1) > 0 and r.get("base_rss_kb", -1) > 0:
            return (r["hwm_kb"] - r["base_rss_kb"]) / 1024
        return None

    return {"msgs_per_s": msgs_per_s, "mb_per_s": mb_per_s, "cpu_s_per_gb": cpu_per_gb, "first_ms": first_ms,
            "peak_rss_mb": hwm_mb, "rss_growth_mb": growth_mb}  # fmt: skip


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "k/s":
        return f"{v / 1e3:,.0f}k/s"
    if unit == "MB/s":
        return f"{v:,.0f} MB/s"
    if unit == "ms":
        return f"{v:.1f} ms"
    if unit == "MB":
        return f"{v:,.0f} MB"
    if unit == "s/GB":
        return f"{v:.2f} s/GB"
    return f"{v:.3g}"


#: (column title, scenario, metric, unit)
COLUMNS = [
    ("small ×1 msg/s", "small-1", "msgs_per_s", "k/s"),
    ("small ×16 msg/s", "small-16", "msgs_per_s", "k/s"),
    ("mixed ×1 MB/s", "mixed-1", "mb_per_s", "MB/s"),
    ("mixed ×16 MB/s", "mixed-16", "mb_per_s", "MB/s"),
    ("small ×1 MB/s", "small-1", "mb_per_s", "MB/s"),
    ("mixed ×1 msg/s", "mixed-1", "msgs_per_s", "k/s"),
    ("first message", "ttfm", "first_ms", "ms"),
    ("peak RSS, 1 GiB flood", "flood", "peak_rss_mb", "MB"),
    ("peak RSS, 12 MiB line", "line12m", "peak_rss_mb", "MB"),
    ("CPU s/GB flood", "flood", "cpu_s_per_gb", "s/GB"),
    ("CPU s/GB small", "small-1", "cpu_s_per_gb", "s/GB"),
    ("CPU s/GB mixed", "mixed-1", "cpu_s_per_gb", "s/GB"),
]


def render(
    table: dict[str, dict[str, Cell]], scen: dict[str, Scenario], infos: dict[str, TranscriptInfo], baseline: str
) -> str:
    names = [n for n in table if CONTENDERS[n].kind != "ref"]
    lines = []
    base_label = CONTENDERS[baseline].label if baseline in CONTENDERS else baseline
    lines.append(f"Each cell: median over runs, and in brackets the ratio to **{base_label}** in the same run.")
    lines.append("")
    for group in (COLUMNS[:6], COLUMNS[6:]):
        head = "| peer | " + " | ".join(col[0] for col in group) + " |"
        lines += [head, "|" + "---|" * (len(group) + 1)]
        for name in names:
            row = [CONTENDERS[name].label]
            for _title, sname, metric, unit in group:
                cell = table[name].get(sname)
                if sname not in scen or cell is None:
                    row.append("—")
                    continue
                if cell.unavailable:
                    row.append("n/a")
                    continue
                fn = metrics(scen[sname], infos[sname])[metric]
                v = cell.median(fn)
                base = table.get(baseline, {}).get(sname)
                bv = base.median(fn) if base is not None and not base.unavailable and base.runs else None
                if not cell.ok():
                    row.append(failure_tag(cell))
                    continue
                text = fmt(v, unit)
                if v is not None and bv:
                    text += f" ({v / bv:.2f}×)"
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def failure_tag(cell: Cell) -> str:
    """A short table entry for a cell whose runs failed the correctness check."""
    bad = [v for v in cell.verdicts if v != "ok"]
    why = bad[0] if bad else "no run finished"
    if "maximum buffer size" in why:
        tag = "fails: line > 1 MiB"
    elif "message count" in why:
        tag = "wrong message count"
    elif "timed out" in why:
        tag = "timed out"
    else:
        tag = "failed"
    return f"**{tag}** ({len(bad)}/{len(cell.verdicts)} runs)"


def orjson_ref_table(table: dict[str, dict[str, Cell]]) -> str:
    out = []
    cells = table.get("orjson", {})
    for sname in ("small-1", "mixed-1"):
        cell = cells.get(sname)
        if not cell or not cell.runs:
            continue
        per_line = statistics.median(r["lines"] / r["per_line_s"] for r in cell.runs)
        per_line_mb = statistics.median(r["bytes"] / r["per_line_s"] / 1e6 for r in cell.runs)
        array = statistics.median(r["lines"] / r["array_s"] for r in cell.runs)
        array_mb = statistics.median(r["bytes"] / r["array_s"] / 1e6 for r in cell.runs)
        out.append(f"- `orjson.loads` alone on the {sname.split('-')[0]} transcript (in memory, no process): "
                   f"{per_line / 1e3:,.0f}k lines/s ({per_line_mb:,.0f} MB/s) line by line; "
                   f"{array / 1e3:,.0f}k lines/s ({array_mb:,.0f} MB/s) with each ~64 KiB chunk of lines "
                   "(one pipe read) parsed as one JSON array.")  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 run (smoke test)")
    p.add_argument("--runs", type=int, default=None, help="runs per measurement (default 3, --quick 1)")
    p.add_argument("--peers", default=",".join(CONTENDERS), help=f"comma-separated, of: {', '.join(CONTENDERS)}")
    p.add_argument("--scenarios", default=None,
                   help="comma-separated subset of: " + ", ".join(s.name for s in scenarios(False)))  # fmt: skip
    p.add_argument("--json", dest="json_out", help="write every raw result and the summary here")
    p.add_argument("--versions", action="store_true", help="print versions and the machine, then exit")
    p.add_argument("--pin", choices=("none", "split"), default="none",
                   help="split: supervisor on CPU 0, emitter on CPU 1 (default none)")  # fmt: skip
    p.add_argument("--baseline", default=BASELINE, help="contender every ratio is relative to")
    p.add_argument("--compare", metavar="CHECKOUT",
                   help="also run peer sidecar_ref: sidecar_c imported from another checkout of this "
                        "repository (its C framer built in place), for a before/after in one run")  # fmt: skip
    p.add_argument("--seed-source", metavar="PATH",
                   help=f"the original TypeScript implementation's sidecar-manager.ts, for seed_bun "
                        f"(default: ${SEED_ENV}; without either seed_bun is not run)")  # fmt: skip
    args = p.parse_args(argv)

    if args.versions:
        print(json.dumps(versions(seed_source(args.seed_source)), indent=2))
        return 0
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    if args.compare:
        checkout = Path(args.compare).resolve()
        commit = run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
        CONTENDERS["sidecar_ref"] = dataclasses.replace(
            CONTENDERS["sidecar_c"], name="sidecar_ref", label=f"sidecar_sync (C framer) at {commit}", src=str(checkout)
        )
        if "sidecar_ref" not in names:
            names.insert(1, "sidecar_ref")
    for n in names:
        if n not in CONTENDERS:
            p.error(f"unknown peer {n!r}; choose from {', '.join(CONTENDERS)}")
    runs = args.runs or (1 if args.quick else 3)
    scen_list = scenarios(args.quick)
    if args.scenarios:
        keep = set(args.scenarios.split(","))
        if unknown := keep - {s.name for s in scen_list}:
            known = ", ".join(s.name for s in scen_list)
            p.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {known}")
        scen_list = [s for s in scen_list if s.name in keep]

    # setup
    build_emitter()
    unavailable: dict[str, str] = {}
    if "seed_bun" in names and (why := setup_bun(seed_source(args.seed_source))):
        unavailable["seed_bun"] = why
    if "sdk" in names and (why := setup_sdk()):
        unavailable["sdk"] = why
    if any(n.startswith("sidecar") for n in names) and (why := sidecar_available()):
        for n in names:
            if n.startswith("sidecar"):
                unavailable[n] = why
    for n, why in unavailable.items():
        loud(f"{n} NOT AVAILABLE: {why}")

    transcripts: dict[str, tuple[Path, TranscriptInfo]] = {}
    for s in scen_list:
        transcripts[s.name] = ensure(s.variant, s.size, seed=1, big_line=s.big_line)
    flood_path = transcripts.get("flood", next(iter(transcripts.values())))[0]
    speed = emitter_speed(flood_path, max(1, 1024 * MiB // flood_path.stat().st_size), args.pin)
    log(f"emitter alone: {speed['devnull_gbps']:.1f} GB/s to /dev/null, "
        f"{speed['pipe_gbps']:.2f} GB/s through a pipe to cat")
    ver = versions(seed_source(args.seed_source))

    table: dict[str, dict[str, Cell]] = {n: {} for n in names}
    raw: list[dict[str, Any]] = []
    started = time.time()
    for run_i in range(runs):
        order = names[run_i % len(names) :] + names[: run_i % len(names)]  # rotate: spread drift over peers
        for s in scen_list:
            path, info = transcripts[s.name]
            for n in order:
                c = CONTENDERS[n]
                if c.kind == "ref" and s.name not in ("small-1", "mixed-1"):
                    continue
                if c.name == "plain" and s.mode == "ttfm":
                    continue  # a reference loop, not a supervisor: no session to start
                cell = table[n].setdefault(s.name, Cell())
                if n in unavailable:
                    cell.unavailable = unavailable[n]
                    continue
                r = spawn(c, s, path, args.pin)
                if not r.get("available", True):
                    cell.unavailable = r.get("reason", "not available")
                    unavailable[n] = cell.unavailable
                    loud(f"{n} NOT AVAILABLE: {cell.unavailable}")
                    continue
                verdict = "ok" if c.kind == "ref" else check(c, s, info, r)
                cell.runs.append(r)
                cell.verdicts.append(verdict)
                raw.append({**r, "run": run_i, "scenario": s.name, "peer": n, "verdict": verdict})
                if verdict != "ok":
                    loud(f"run {run_i + 1} {s.name} {n}: {verdict}")
                else:
                    fn = metrics(s, info)
                    shown = (fmt(fn["first_ms"](r), "ms") if s.mode == "ttfm" else
                             f"{fmt(fn['msgs_per_s'](r), 'k/s')} {fmt(fn['mb_per_s'](r), 'MB/s')}"
                             f" peak {fmt(fn['peak_rss_mb'](r), 'MB')}") if c.kind != "ref" else ""  # fmt: skip
                    log(f"run {run_i + 1}/{runs} {s.name:9} {n:11} ok {shown}")
    elapsed = time.time() - started

    scen = {s.name: s for s in scen_list}
    infos = {k: v[1] for k, v in transcripts.items()}
    report = [render(table, scen, infos, args.baseline), orjson_ref_table(table)]
    if args.baseline in unavailable or args.baseline not in names:
        report.insert(0, f"**NO RATIOS: the baseline {args.baseline} did not run** "
                         f"({unavailable.get(args.baseline, 'not in --peers')}).")  # fmt: skip
    failures = [f"{x['peer']} {x['scenario']} run {x['run'] + 1}: {x['verdict']}" for x in raw if x["verdict"] != "ok"]
    if unavailable:
        report.append("\n".join(f"- **{n} not available**: {why}" for n, why in unavailable.items()))
    if failures:
        report.append("Failures (correctness is checked after timing):\n" + "\n".join(f"- {f}" for f in failures))
    report.append(
        f"{runs} run(s), pin={args.pin}, {elapsed:.0f} s; emitter alone {speed['devnull_gbps']:.1f} GB/s to "
        f"/dev/null, {speed['pipe_gbps']:.2f} GB/s through a pipe; {ver.get('cpus')} CPUs ({ver.get('cpu_model')}), "
        f"Python {ver.get('python')}, orjson {ver.get('orjson')}, bun {ver.get('bun')}, "
        f"claude-agent-sdk {SDK_VERSION}, commit {ver.get('commit')}."
    )
    text = "\n\n".join(x for x in report if x)
    print(text)
    if args.json_out:
        summary = {
            n: {
                sn: ({"unavailable": cell.unavailable} if cell.unavailable else
                     {m: cell.median(fn) for m, fn in metrics(scen[sn], infos[sn]).items()}
                     | {"verdicts": cell.verdicts})
                for sn, cell in cells.items()
            }
            for n, cells in table.items()
        }  # fmt: skip
        Path(args.json_out).write_text(json.dumps(
            {"versions": ver, "emitter": speed, "pin": args.pin, "runs": runs, "quick": args.quick,
             "scenarios": [dataclasses.asdict(s) for s in scen_list],
             "transcripts": {k: dataclasses.asdict(v) | {"samples": None, "stream_samples": None}
                             for k, v in infos.items()},
             "summary": summary, "raw": raw, "markdown": text}, indent=1))  # fmt: skip
    if any(x["verdict"] != "ok" and x["peer"].startswith("sidecar") for x in raw):
        return 1
    return 2 if args.baseline in unavailable else 0


if __name__ == "__main__":
    sys.exit(main())
