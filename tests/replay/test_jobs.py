"""replay(jobs=N): worker processes give the very summary one process gives."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from bench.transcript import build_block
from sidecar_sync.errors import ReplayError
from sidecar_sync.messages import AgentMessage, TextContent
from sidecar_sync.replay import Replay, Source, replay
from tests.replay.conftest import ALL_FILES, DATA, as_runner_output, load_events


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real recordings, runner-wrapped copies, gzip, bad lines and a few MiB of realistic transcript."""
    root = tmp_path_factory.mktemp("many")
    files = [DATA / n for n in ALL_FILES]
    for i, name in enumerate(ALL_FILES[:4]):
        wrapped = root / f"runner-{i}.ndjson"
        wrapped.write_bytes(as_runner_output(load_events(DATA / name), session_id=f"s{i}"))
        files.append(wrapped)
    zipped = root / "partial.jsonl.gz"
    zipped.write_bytes(gzip.compress((DATA / "claude_partial_messages.jsonl").read_bytes()))
    files.append(zipped)
    bad = root / "bad.ndjson"
    bad.write_bytes(
        b"garbage\nnull\n" + (DATA / "codex_command.jsonl").read_bytes() + b'{"pad":"' + b"y" * 3000 + b'"}\n'
    )
    files.append(bad)
    for seed, variant in ((1, "mixed"), (2, "small")):
        data, _ = build_block(variant, 3 * 2**20, seed=seed)
        path = root / f"{variant}-{seed}.ndjson"
        path.write_bytes(data)
        files.append(path)
    return files


def test_summary_does_not_depend_on_jobs(many_files: list[Path]) -> None:
    single = replay(many_files, max_line_size=2 * 2**20)
    assert single.messages > 5_000 and single.invalid_lines == 2 and single.cost_usd > 0
    for jobs, method in ((2, "spawn"), (3, "fork")):
        parallel = replay(many_files, jobs=jobs, max_line_size=2 * 2**20, start_method=method)
        assert parallel == single, (jobs, method)
        assert parallel.cost_usd == single.cost_usd  # same float: the same order of additions
        assert [f.source for f in parallel.files] == [str(p) for p in many_files]


def test_default_start_method_and_more_jobs_than_files() -> None:
    files = [DATA / n for n in ALL_FILES[:3]]
    assert replay(files, jobs=8) == replay(files)


def test_streams_are_read_in_the_parent(many_files: list[Path]) -> None:
    stream = io.BytesIO((DATA / "claude_tool_bash.jsonl").read_bytes())
    sources: list[Source] = [many_files[0], stream, many_files[1], many_files[2]]
    parallel = replay(sources, jobs=2)
    stream.seek(0)
    assert parallel == replay(sources)
    assert parallel.files[1].source == "<BytesIO>"


def test_worker_errors_raise_in_the_parent(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all\n")
    with pytest.raises(ReplayError, match=r"broken\.jsonl\.gz: not a gzip file"):
        replay([DATA / ALL_FILES[0], broken, DATA / ALL_FILES[1]], jobs=2)


def test_worker_errors_skipped(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    sources = [DATA / ALL_FILES[0], missing, DATA / ALL_FILES[1]]
    parallel = replay(sources, jobs=2, errors="skip")
    assert parallel == replay(sources, errors="skip")
    assert len(parallel.errors) == 1 and "missing.jsonl: cannot open" in parallel.errors[0]


def test_progress_in_parallel(many_files: list[Path]) -> None:
    calls: list[tuple[int, int | None]] = []
    replay(many_files, jobs=2, progress=lambda done, total: calls.append((done, total)))
    total = sum(p.stat().st_size for p in many_files)
    assert calls and calls[-1] == (total, total)


def number_adapter(event: dict) -> list[AgentMessage]:  # type: ignore[type-arg]
    """An importable custom adapter: spawned workers find it by name."""
    return [AgentMessage("x", "text", TextContent(str(event.get("type"))), None, 0)]


def test_importable_custom_adapter_in_workers() -> None:
    files = [DATA / n for n in ALL_FILES[:4]]
    single = replay(files, provider=number_adapter)
    assert single.by_type == {"text": single.events}
    assert replay(files, provider=number_adapter, jobs=2) == single


def test_iteration_ignores_jobs() -> None:
    # message iteration is always in order, in this process
    files = [DATA / n for n in ALL_FILES]
    rep = Replay(files)
    assert sum(1 for _ in rep) == replay(files, jobs=2).messages


def test_a_worker_that_dies_is_an_error_naming_the_file(tmp_path: Path) -> None:
    # The adapter kills its own worker process on the first event of one file.
    files = [DATA / n for n in ALL_FILES[:3]]
    with pytest.raises(ReplayError, match=r"the replay worker process died \(exit code 7\)") as info:
        replay(files, provider=dying_adapter, jobs=2)
    assert info.value.source in {str(f) for f in files}


def dying_adapter(event: dict) -> list[AgentMessage]:  # type: ignore[type-arg]
    """Exits the process: a crash the pool must not hide or wait out."""
    import os

    os._exit(7)


def test_spawn_that_cannot_start_workers_fails_instead_of_hanging(tmp_path: Path) -> None:
    # A script fed on stdin cannot be re-imported by spawned children: the stdlib
    # Pool would replace its dead workers for ever; replay must fail.
    import subprocess
    import sys

    code = (
        "from sidecar_sync.replay import replay\n"
        f"files = {[str(DATA / n) for n in ALL_FILES[:3]]!r}\n"
        "try:\n"
        "    replay(files, jobs=2, start_method='spawn')\n"
        "except Exception as exc:\n"
        "    print('FAILED', type(exc).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-"], input=code.encode(), capture_output=True, timeout=60, check=False)
    assert b"FAILED ReplayError" in done.stdout, done.stderr.decode()[-2000:]
