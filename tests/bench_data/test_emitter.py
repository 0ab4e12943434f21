"""bench/peers/emitter.c: the runner every peer drives must replay exactly and speak both protocols."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from bench.transcript import generate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emitter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        pytest.fail(f"no C compiler ({cc}): the bench emitter needs one, like the framer")
    out = tmp_path_factory.mktemp("emit") / "emit"
    subprocess.run(
        [cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out), str(REPO / "bench" / "peers" / "emitter.c")],
        check=True, timeout=60,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("t") / "t.ndjson"
    generate(path, "mixed", 3 * 2**20, seed=8)
    return path


def drive(emitter: Path, transcript: Path, stdin: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    full = {**os.environ, "SIDECAR_BENCH_TRANSCRIPT": str(transcript), **env}
    return subprocess.run([str(emitter)], input=stdin, env=full, capture_output=True, timeout=60, check=False)


def test_query_replays_the_file_then_ends_the_turn(emitter: Path, transcript: Path) -> None:
    r = drive(emitter, transcript, b'{"type":"query","sessionId":"s","prompt":"go"}\n')
    assert r.returncode == 0, r.stderr
    assert r.stdout == transcript.read_bytes() + b'{"type":"agent_stopped"}\n'


def test_repeat_and_follow_up_turns(emitter: Path, transcript: Path) -> None:
    data = transcript.read_bytes()
    r = drive(emitter, transcript, b'{"type":"query"}\n{"type": "query"}\n', SIDECAR_BENCH_REPEAT="3")
    assert r.returncode == 0
    assert r.stdout == (data * 3 + b'{"type":"agent_stopped"}\n') * 2


def test_nothing_before_a_query_and_stop_exits(emitter: Path, transcript: Path) -> None:
    r = drive(emitter, transcript, b'{"type":"ping"}\n{"type":"stop","sessionId":"s"}\n{"type":"query"}\n')
    assert r.returncode == 0
    assert r.stdout == b'{"type":"pong"}\n'
    assert drive(emitter, transcript, b"").stdout == b""  # EOF: exit quietly


def test_sdk_handshake(emitter: Path, transcript: Path) -> None:
    init = {"type": "control_request", "request_id": "req_1_abc", "request": {"subtype": "initialize", "hooks": None}}
    user = {"type": "user", "message": {"role": "user", "content": "go"}, "parent_tool_use_id": None, "session_id": ""}
    r = drive(emitter, transcript, orjson.dumps(init) + b"\n" + orjson.dumps(user) + b"\n", SIDECAR_BENCH_END="none")
    first, rest = r.stdout.split(b"\n", 1)
    reply = orjson.loads(first)
    assert reply["type"] == "control_response"
    assert reply["response"] == {"subtype": "success", "request_id": "req_1_abc", "response": {}}
    assert rest == transcript.read_bytes()


def test_version_and_missing_transcript(emitter: Path, tmp_path: Path) -> None:
    v = subprocess.run([str(emitter), "--output-format", "stream-json", "-v"], capture_output=True, timeout=10)
    assert v.returncode == 0 and b"Claude Code" in v.stdout
    env = {k: x for k, x in os.environ.items() if k != "SIDECAR_BENCH_TRANSCRIPT"}
    r = subprocess.run([str(emitter)], input=b"", env=env, capture_output=True, timeout=10, check=False)
    assert r.returncode == 2 and b"SIDECAR_BENCH_TRANSCRIPT" in r.stderr
    r = drive(emitter, tmp_path / "absent.ndjson", b"")
    assert r.returncode == 3 and b"absent.ndjson" in r.stderr
