"""sidecar_sync.dist on real dask clusters of worker processes (LocalCluster(processes=True)).

One two-worker cluster serves the module; tests that break a cluster (a killed
worker) wait for the nanny's replacement before the next test. Every call into
the cluster carries a timeout. Runner processes are found in /proc: they are
started by the workers, which are descendants of this process.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import orjson
import pytest

from bench.transcript import build_block
from sidecar_sync import dist
from sidecar_sync.errors import InvalidOptionError, ReplayError, ReplaySourceMissingError, WaitTimeoutError
from sidecar_sync.replay import replay
from tests._proc import descendants, is_alive, wait_gone
from tests.replay.conftest import as_runner_output, load_events

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
RECORDINGS = sorted(DATA.glob("*/*.jsonl"))
#: dask.distributed, untyped: it is only partly annotated.
dd: Any = distributed
#: A ``distributed.Client`` (annotated loosely, as ``dd``).
Client = Any
#: Seconds any one call into the cluster may take in these tests.
CALL = 60.0
#: No dashboard, and the scheduler's HTTP server on a free port (8787 may be taken).
QUIET: dict[str, Any] = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def runners() -> dict[int, int]:
    """Live runner processes below this one: pid -> parent pid (the worker that started it)."""
    found = {}
    for pid in descendants():
        if "sidecar_sync.runners." in cmdline(pid) and is_alive(pid):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            found[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s: {predicate}")


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[Client]:
    with (
        dd.LocalCluster(
            n_workers=2, threads_per_worker=4, resources={"sessions": 4}, processes=True, **QUIET
        ) as cluster,
        dd.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture
def client(cluster_client: Client) -> Client:
    """The module's cluster, with both workers up (a test may have killed one)."""
    cluster_client.wait_for_workers(2, timeout=CALL)
    return cluster_client


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real recordings of every provider, runner-wrapped copies, gzip, bad lines, generated transcripts."""
    root = tmp_path_factory.mktemp("corpus")
    files = list(RECORDINGS)
    for i, path in enumerate(sorted(DATA.glob("claude/claude_*.jsonl"))[:3] + sorted(DATA.glob("codex/*.jsonl"))[:2]):
        wrapped = root / f"runner-{i}.ndjson"
        wrapped.write_bytes(as_runner_output(load_events(path), session_id=f"s{i}"))
        files.append(wrapped)
    for path in RECORDINGS[::4]:
        zipped = root / f"{path.stem}.jsonl.gz"
        zipped.write_bytes(gzip.compress(path.read_bytes()))
        files.append(zipped)
    bad = root / "bad.ndjson"
    bad.write_bytes(b"garbage\nnull\n" + (DATA / "codex" / "codex_command.jsonl").read_bytes())
    files.append(bad)
    for seed in (1, 2, 3):
        data, _ = build_block("mixed" if seed == 1 else "small", 600_000, seed=seed)
        path = root / f"generated-{seed}.ndjson"
        path.write_bytes(data)
        files.append(path)
    return files


# -- replay ----------------------------------------------------------------------------


@pytest.mark.parametrize("batch_bytes", [1, 200_000, 64 * 2**20])
def test_replay_equals_the_local_replay(client: Client, corpus: list[Path], batch_bytes: int) -> None:
    """Per-file summaries come back in the order given, whatever the batches: the same summary, the same floats."""
    local = replay(corpus)
    assert local.messages > 1000 and local.invalid_lines == 2 and local.cost_usd > 0
    ticks: list[tuple[int, int | None]] = []
    remote = dist.replay(
        corpus, client=client, batch_bytes=batch_bytes, progress=lambda d, t: ticks.append((d, t)), timeout=CALL
    )
    assert remote == local
    assert remote.cost_usd == local.cost_usd
    assert [f.source for f in remote.files] == [str(p) for p in corpus]
    total = sum(p.stat().st_size for p in corpus)
    assert ticks[-1] == (total, total) and [d for d, _ in ticks] == sorted(d for d, _ in ticks)
    if batch_bytes == 1:
        assert len(ticks) == len(corpus)  # one task per file: progress per finished batch


def test_relative_paths_are_read_from_the_callers_directory(
    client: Client, corpus: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DATA)
    names = [str(p.relative_to(DATA)) for p in RECORDINGS[:6]]
    assert dist.replay(names, client=client, batch_bytes=1, timeout=CALL) == replay(names)


def test_errors_raise_and_skip(client: Client, corpus: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    notgz = tmp_path / "broken.jsonl.gz"
    notgz.write_bytes(b"this is not gzip\n")
    text = tmp_path / "notes.jsonl"
    text.write_bytes(b"no json here\n")
    files = [*corpus[:3], missing, corpus[3], notgz, text, corpus[4]]
    with pytest.raises(ReplayError) as info:
        dist.replay(files, client=client, batch_bytes=1, timeout=CALL)
    assert any(str(p) in str(info.value) for p in (missing, notgz, text))
    with pytest.raises(ReplaySourceMissingError) as missing_info:
        dist.replay([corpus[0], missing], client=client, timeout=CALL)
    assert isinstance(missing_info.value, FileNotFoundError) and missing_info.value.filename == str(missing)
    skipped = dist.replay(files, client=client, batch_bytes=1, errors="skip", timeout=CALL)
    assert skipped == replay(files, errors="skip")
    assert len(skipped.errors) == 3


def test_bad_arguments_fail_before_any_task(client: Client) -> None:
    with pytest.raises(InvalidOptionError, match="errors"):
        dist.replay(RECORDINGS, client=client, errors="ignore")
    with pytest.raises(InvalidOptionError, match="batch_bytes"):
        dist.replay(RECORDINGS, client=client, batch_bytes=0)
    with open(RECORDINGS[0], "rb") as stream, pytest.raises(InvalidOptionError, match="paths"):
        dist.replay([stream], client=client)  # type: ignore[list-item]
    assert dist.replay([], client=client) == replay([])


def test_a_worker_killed_mid_task_is_an_error_naming_its_files(client: Client, tmp_path: Path) -> None:
    """The batch is not replayed again after its worker died: its second run fails, naming the files."""
    fifo = tmp_path / "stuck.jsonl"
    os.mkfifo(fifo)
    victims: list[int] = []

    def feed_then_kill() -> None:
        fd = os.open(fifo, os.O_WRONLY)  # returns once a worker opened it for reading
        try:
            os.write(fd, b'{"type": "ping"}\n')
            reader = wait_for(lambda: [p for p in descendants() if _has_open(p, fifo)])
            victims.extend(reader)
            os.kill(reader[0], signal.SIGKILL)
        finally:
            os.close(fd)

    killer = threading.Thread(target=feed_then_kill, name="test-kill-reader", daemon=True)
    killer.start()
    started = time.monotonic()
    with pytest.raises(ReplayError, match="died") as info:
        dist.replay([*RECORDINGS[:3], fifo, *RECORDINGS[3:6]], client=client, batch_bytes=1, timeout=CALL)
    killer.join(timeout=CALL)
    assert not killer.is_alive() and victims
    assert str(fifo) in str(info.value)
    assert time.monotonic() - started < 30


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def test_dask_scheduler_address_is_used_when_no_client_is_given(
    client: Client, corpus: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs_before = set(client.get_metadata("sidecar-sync-claims", {}))
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", client.scheduler.address)
    before = descendants()
    assert dist.replay(corpus[:5], timeout=CALL) == replay(corpus[:5])
    assert descendants() - before == set()  # no local cluster was started
    assert len(set(client.get_metadata("sidecar-sync-claims", {})) - runs_before) == 1


# -- sessions --------------------------------------------------------------------------


def echo(session_id: str, prompt: str, **config: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"session_id": session_id, "provider": "echo", "prompt": prompt}
    if config:
        spec["provider_config"] = config
    return spec


def test_twenty_echo_sessions_with_follow_ups(client: Client) -> None:
    specs = [{**echo(f"s{i}", f"hello {i}"), "follow_ups": [f"again {i}", f"last {i}"]} for i in range(20)]
    done: list[int] = []
    results = dist.run_sessions(specs, client=client, per_worker=4, progress=lambda d, t: done.append(d), timeout=CALL)
    assert [r.session_id for r in results] == [f"s{i}" for i in range(20)]
    assert done == list(range(1, 21))
    for i, result in enumerate(results):
        assert result.ok, result.error
        assert result.state is not None and result.state.status == "done" and result.state.finished
        texts = [m.content.text for m in result.messages or [] if m.type == "text"]
        assert texts == [f"hello {i}", f"again {i}", f"last {i}"]
        assert sum(m.type == "cost" for m in result.messages or []) == 3
    assert not runners()


def test_per_worker_bounds_the_sessions_running_at_once_on_each_worker(client: Client) -> None:
    """Workers declare 4 session slots; per_worker=2 lets each run only 2 of the 10 sessions at once.

    Watched two ways: runner processes per worker (sampled from /proc while the run goes on), and
    the sessions' own start and end times (at most 2 workers x 2 sessions overlap at any instant)."""
    per_worker = 2
    peaks: dict[int, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            by_worker: dict[int, int] = {}
            for parent in runners().values():
                by_worker[parent] = by_worker.get(parent, 0) + 1
            for parent, count in by_worker.items():
                peaks[parent] = max(peaks.get(parent, 0), count)
            stop.wait(0.005)

    sampler = threading.Thread(target=sample, name="test-sampler", daemon=True)
    sampler.start()
    try:
        results = dist.run_sessions(
            [echo(f"c{i}", "x", delay=0.3) for i in range(10)], client=client, per_worker=per_worker, timeout=CALL
        )
    finally:
        stop.set()
        sampler.join(timeout=CALL)
    assert all(r.ok for r in results), [r.error for r in results]
    assert peaks and max(peaks.values()) == per_worker, peaks  # sessions did overlap, never beyond 2
    events = []
    for result in results:
        assert result.state is not None and result.state.ended_at is not None
        events += [(result.state.started_at, 1), (result.state.ended_at, -1)]
    running = most = 0
    for _, step in sorted(events):  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    assert 2 <= most <= 2 * per_worker, most


def test_failed_starts_turns_and_runners_are_results_not_exceptions(client: Client) -> None:
    specs = [
        echo("ok", "fine", delay=0),
        {"session_id": "nope", "provider": "no-such-provider", "prompt": "x"},
        {**echo("fails", "x", fail="model overloaded"), "follow_ups": ["never sent"]},
        echo("crashes", "x", exitCode=3),
    ]
    ok, nope, fails, crashes = dist.run_sessions(specs, client=client, collect_messages=False, timeout=CALL)
    assert ok.ok and ok.messages is None
    assert nope.state is None and nope.error is not None and "no-such-provider" in nope.error
    assert fails.error is not None and "model overloaded" in fails.error
    assert fails.state is not None and fails.state.finished
    assert crashes.state is not None and crashes.state.status == "error" and crashes.error


def test_bad_specs_fail_before_anything_starts(client: Client) -> None:
    cases = [
        ([echo("a", "x"), echo("a", "y")], "used twice"),
        ([{**echo("a", "x"), "on_message": print}], "would run on a worker"),
        ([{**echo("a", "x"), "colour": "red"}], "unknown keys"),
        ([{**echo("a", "x"), "follow_ups": "not a list"}], "follow_ups"),
        ([{"session_id": "a", "provider": "echo"}], "prompt"),
    ]
    for specs, message in cases:
        with pytest.raises(InvalidOptionError, match=message):
            dist.run_sessions(specs, client=client)
    with pytest.raises(InvalidOptionError, match="per_worker"):
        dist.run_sessions([echo("a", "x")], client=client, per_worker=0)
    assert dist.run_sessions([], client=client) == []


def _interrupt_main_when(runner_count: int, seen: dict[int, int]) -> threading.Thread:
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        seen.update(wait_for(lambda: (r := runners()) and len(r) >= runner_count and r))
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=interrupt, name="test-interrupt", daemon=True)
    thread.start()
    return thread


def test_interrupting_the_caller_stops_the_runners(client: Client) -> None:
    """Ctrl-C in the caller cancels the tasks; the workers stop the sessions those tasks started."""
    seen: dict[int, int] = {}
    thread = _interrupt_main_when(4, seen)
    with pytest.raises(KeyboardInterrupt):
        dist.run_sessions([echo(f"slow{i}", "x", delay=30) for i in range(4)], client=client, timeout=CALL)
    thread.join(timeout=CALL)
    assert len(seen) == 4
    assert wait_gone(set(seen), timeout=15) == set()
    # The workers live on, and their manager takes new sessions.
    assert all(r.ok for r in dist.run_sessions([echo("after", "x")], client=client, timeout=CALL))


def test_the_timeout_stops_the_runners(client: Client) -> None:
    with pytest.raises(WaitTimeoutError, match="2 of 2 sessions"):
        dist.run_sessions([echo(f"late{i}", "x", delay=30) for i in range(2)], client=client, timeout=2)
    assert wait_for(lambda: not runners(), timeout=15)


def test_a_session_whose_worker_dies_is_not_run_again(client: Client) -> None:
    specs = [echo(f"w{i}", "x", delay=0.5, chunks=4) for i in range(4)]
    killed: dict[int, int] = {}

    def kill_one_worker() -> None:
        live = wait_for(lambda: (r := runners()) and len(r) >= 4 and r)
        worker = next(iter(live.values()))
        killed.update({pid: parent for pid, parent in live.items() if parent == worker})
        os.kill(worker, signal.SIGKILL)

    thread = threading.Thread(target=kill_one_worker, name="test-kill-worker", daemon=True)
    thread.start()
    results = dist.run_sessions(specs, client=client, timeout=CALL)
    thread.join(timeout=CALL)
    lost = [r for r in results if not r.ok]
    assert len(lost) == len(killed) >= 1
    for result in lost:
        assert result.state is None and result.error is not None
        assert "not run again" in result.error or "died" in result.error
    assert all(r.state is not None and r.state.status == "done" for r in results if r.ok)
    assert wait_gone(set(killed), timeout=15) == set()  # runners die with their host


def test_a_cluster_started_for_the_call_leaves_nothing_running() -> None:
    """client=None: a local cluster for the call; interrupted or not, nothing it started outlives it."""
    before = descendants()
    results = dist.run_sessions(
        [{**echo(f"own{i}", "x"), "follow_ups": ["y"]} for i in range(3)], per_worker=3, timeout=CALL
    )
    assert all(r.ok for r in results)
    pids = {r.state.pid for r in results if r.state is not None and r.state.pid}
    assert len(pids) == 3 and not any(is_alive(p) for p in pids)
    assert wait_gone(descendants() - before, timeout=15) == set()
    seen: dict[int, int] = {}
    thread = _interrupt_main_when(2, seen)
    with pytest.raises(KeyboardInterrupt):
        dist.run_sessions([echo(f"own-slow{i}", "x", delay=30) for i in range(2)], per_worker=2, timeout=CALL)
    thread.join(timeout=CALL)
    assert len(seen) == 2
    assert wait_gone(set(seen) | (descendants() - before), timeout=15) == set()


# -- preflight -------------------------------------------------------------------------


def test_preflight_passes_on_workers_that_have_the_package(client: Client) -> None:
    import sidecar_sync

    reports = dist.preflight(client)
    assert len(reports) == 2
    for report in reports.values():
        assert (report.version, report.backend, report.problem) == (sidecar_sync.__version__, "c", None)


@contextlib.contextmanager
def foreign_worker(python: str, scheduler: str, env: dict[str, str], cwd: Path) -> Iterator[None]:
    """A dask worker of another interpreter or environment joined to ``scheduler``; ended on exit."""
    worker = subprocess.Popen(
        [python, "-m", "distributed.cli.dask_worker", scheduler, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=15)


def test_preflight_names_a_worker_without_the_package_and_one_without_the_c_framer(tmp_path: Path) -> None:
    """One worker runs the pure-Python framer; another has the package only through PYTHONPATH.

    The second worker's own interpreter finds dask on PYTHONPATH but ``python -I``
    ignores it, as it ignores it for runners: the package is not installed there.
    """
    base = getattr(sys, "_base_executable", sys.executable)
    with (
        dd.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            env={"SIDECAR_SYNC_FRAMER": "python"},
            **QUIET,
        ) as cluster,
        dd.Client(cluster, set_as_default=False) as client,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DASK_"))}
        env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
        with foreign_worker(base, cluster.scheduler_address, env, tmp_path):
            client.wait_for_workers(2, timeout=CALL)
            with pytest.raises(dist.PreflightError) as info:
                dist.preflight(client)
            problems = info.value.problems
            assert len(problems) == 2
            texts = sorted(problems.values())
            assert any("cannot import sidecar_sync" in t and "No module named 'sidecar_sync'" in t for t in texts)
            assert any("C framer is not loaded" in t and "'python'" in t for t in texts)
            with pytest.raises(dist.PreflightError):
                dist.run_sessions([echo("never", "x")], client=client, timeout=CALL)
            assert not runners()


def other_version_venv(root: Path, version: str) -> Path:
    """A virtual environment with a copy of this sidecar_sync installed as ``version``; dask comes
    from this environment's site-packages (a .pth entry). Returns its interpreter."""
    import sidecar_sync

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=CALL)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, timeout=CALL,
    ).stdout.decode().strip()  # fmt: skip
    site = Path(purelib)
    (site / "this-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    package = site / "sidecar_sync"
    shutil.copytree(Path(sidecar_sync.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    init = package / "__init__.py"
    source = init.read_text()
    assert f'__version__ = "{sidecar_sync.__version__}"' in source
    init.write_text(source.replace(f'__version__ = "{sidecar_sync.__version__}"', f'__version__ = "{version}"'))
    return python


def test_preflight_names_a_worker_with_another_version_installed(tmp_path: Path) -> None:
    """One worker has this package; another runs an environment where the same package is
    installed under another version number: only that one is named, with both versions."""
    import sidecar_sync

    python = other_version_venv(tmp_path / "venv", "0.0.1.post99+other")
    with (
        dd.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, **QUIET) as cluster,
        dd.Client(cluster, set_as_default=False) as client,
    ):
        (good,) = client.scheduler_info()["workers"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DASK_", "SIDECAR_SYNC_"))}
        with foreign_worker(str(python), cluster.scheduler_address, env, tmp_path):
            client.wait_for_workers(2, timeout=CALL)
            (other,) = set(client.scheduler_info()["workers"]) - {good}
            with pytest.raises(dist.PreflightError) as info:
                dist.preflight(client)
            assert list(info.value.problems) == [other]
            assert info.value.problems[other] == (
                f"sidecar_sync 0.0.1.post99+other there, {sidecar_sync.__version__} here: "
                "install the same version everywhere"
            )
            assert other in str(info.value) and good not in str(info.value)
            with pytest.raises(dist.PreflightError):
                dist.run_sessions([echo("never", "x")], client=client, timeout=CALL)
            assert not runners()


# -- the command line ------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar_sync", *args],
        capture_output=True,
        timeout=CALL,
        cwd=REPO,
        env=env if env is not None else dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def summary_of(done: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(done.stdout)
    data.pop("elapsed")
    return data


def test_cli_dask_engine_prints_the_local_summary(client: Client, corpus: list[Path]) -> None:
    folder = corpus[-1].parent  # runner output, gzip, bad lines, generated: a directory argument
    args = ["replay", "--summary", "--json", str(folder), str(RECORDINGS[0])]
    local = cli(*args)
    remote = cli(*args, "--engine", "dask", "--scheduler", client.scheduler.address)
    assert local.returncode == remote.returncode == 0, (local.stderr, remote.stderr)
    assert summary_of(remote) == summary_of(local)
    assert len(summary_of(local)["files"]) == len(list(folder.iterdir())) + 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "dask", "x.jsonl"], "--engine dask applies to --summary"),
        (["--summary", "--engine", "dask", "-"], "not stdin"),
        (["--summary", "--engine", "dask", "--jobs", "2", "x.jsonl"], "--jobs applies to --engine local"),
        (["--summary", "--scheduler", "tcp://127.0.0.1:1", "x.jsonl"], "--scheduler applies to --engine dask"),
    ],
)
def test_cli_engine_usage_errors(args: list[str], message: str) -> None:
    done = cli("replay", *args)
    assert done.returncode == 2 and message in done.stderr.decode()
