"""The replay runner on the real recorded transcripts (tests/data/runners/)."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar_sync.protocol import CONTROL_TYPES, encode, query_command, stop_command
from sidecar_sync.runners.replay import PaceClock, detect_format, parse_timestamp
from tests.runners.client import RunnerClient, types

DATA = Path(__file__).resolve().parents[1] / "data" / "runners"
RAW_FIXTURES = sorted(DATA.glob("*.jsonl"))


def replay(runner: RunnerClient, transcript: str | os.PathLike[str], **config: object) -> list:
    """One replay turn: its lines between agent_started and the final line (inclusive)."""
    runner.send(query_command("s1", "replay", {"provider_config": {"transcript": str(transcript), **config}}))
    turn = runner.read_turn()
    assert turn[0] == {"type": "agent_started"}
    return turn[1:]


def expected_from_raw(path: Path) -> list:
    """What a raw transcript must come out as: each line, protocol-typed ones wrapped."""
    out = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        obj = orjson.loads(line)
        out.append({"type": "agent_event", "event": obj} if obj.get("type") in CONTROL_TYPES else obj)
    return out


@pytest.mark.parametrize("fixture", RAW_FIXTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("pace", ["full", "recorded"])
def test_real_transcripts_replay_line_for_line(spawn_runner, fixture, pace):
    runner = spawn_runner("replay")
    turn = replay(runner, fixture, pace=pace, speed=50)
    assert turn[-1] == {"type": "agent_stopped"}
    assert turn[:-1] == expected_from_raw(fixture)


def test_full_pace_passes_untouched_lines_byte_for_byte(spawn_runner):
    fixture = DATA / "claude_tool_bash.jsonl"
    runner = spawn_runner("replay")
    replay(runner, fixture)
    body = b"".join(runner.raw_lines[2:-1])  # between agent_started and agent_stopped
    assert body == fixture.read_bytes()


def test_codex_top_level_errors_are_wrapped_so_the_adapter_gets_them(spawn_runner):
    runner = spawn_runner("replay")
    turn = replay(runner, DATA / "codex_api_error_401.jsonl")
    wrapped = [line["event"] for line in turn if line.get("type") == "agent_event"]
    assert len(wrapped) == 6 and all(e["type"] == "error" for e in wrapped)
    assert not [line for line in turn if line.get("type") == "error"]  # no bare protocol "error" left


def test_follow_up_replays_again(spawn_runner):
    runner = spawn_runner("replay")
    first = replay(runner, DATA / "codex_plain.jsonl")
    runner.send(query_command("s1", "again"))
    second = runner.read_turn()[1:]
    assert first == second


# -- runner-output recordings -------------------------------------------------------


def record_runner_output(spawn_runner, tmp_path: Path) -> tuple[Path, list]:
    """Record a real echo session (two turns, a pong, a failed turn) as runner output."""
    echo = spawn_runner("echo", wait_ready=False)
    echo.send(query_command("rec", "first", {"provider_config": {"chunks": 2}}))
    echo.send({"type": "ping"})
    echo.send(query_command("rec", "second"))
    echo.send({"type": "bogus"})
    seen: list = []
    while seen.count("agent_stopped") + seen.count("agent_error") < 2 or "error" not in seen:
        seen.append(echo.read()["type"])
    echo.close_stdin()  # every answer is in: EOF now ends nothing
    assert echo.read_all() == []
    assert echo.wait() == 0
    path = tmp_path / "echo.runner.jsonl"
    path.write_bytes(b"".join(echo.raw_lines))
    events = [orjson.loads(raw) for raw in echo.raw_lines if b'"agent_event"' in raw[:40]]
    return path, events


def test_runner_output_keeps_events_and_drops_the_recorded_framing(spawn_runner, tmp_path):
    path, recorded_events = record_runner_output(spawn_runner, tmp_path)
    content = path.read_bytes()
    assert all(k in content for k in (b'"ready"', b'"pong"', b'"agent_started"', b'"agent_stopped"', b'"error"'))
    runner = spawn_runner("replay")
    turn = replay(runner, path)
    assert turn == [*recorded_events, {"type": "agent_stopped"}]  # one turn, the replay's own framing


def test_recorded_agent_error_does_not_fail_the_replay(spawn_runner, tmp_path):
    path = tmp_path / "failed.jsonl"
    event = {"type": "agent_event", "event": {"type": "system", "subtype": "init", "session_id": "x"}}
    path.write_bytes(
        encode({"type": "agent_started"}) + encode(event) + encode({"type": "agent_error", "message": "boom"})
    )
    runner = spawn_runner("replay")
    assert replay(runner, path) == [event, {"type": "agent_stopped"}]


def test_wrapped_codex_runner_output(spawn_runner, tmp_path):
    source = DATA / "codex_api_error_401.jsonl"
    path = tmp_path / "codex.runner.jsonl"
    lines = [orjson.loads(line) for line in source.read_bytes().splitlines()]
    path.write_bytes(
        encode({"type": "ready"})
        + encode({"type": "agent_started"})
        + b"".join(encode({"type": "agent_event", "event": e}) for e in lines)
        + encode({"type": "agent_error", "message": "turn failed"})
    )
    runner = spawn_runner("replay")
    turn = replay(runner, path)
    assert turn == [*({"type": "agent_event", "event": e} for e in lines), {"type": "agent_stopped"}]


@pytest.mark.parametrize("name", ["t.jsonl.gz", "t.jsonl"])  # gzip is detected by content, not name
def test_gzip_transcripts(spawn_runner, tmp_path, name):
    fixture = DATA / "claude_partial_messages.jsonl"
    path = tmp_path / name
    path.write_bytes(gzip.compress(fixture.read_bytes()))
    runner = spawn_runner("replay")
    assert replay(runner, path)[:-1] == expected_from_raw(fixture)
    assert replay(runner, path, pace="recorded", speed=100)[:-1] == expected_from_raw(fixture)


def test_gzip_runner_output(spawn_runner, tmp_path):
    path, recorded_events = record_runner_output(spawn_runner, tmp_path)
    gz = tmp_path / "echo.runner.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    runner = spawn_runner("replay")
    assert replay(runner, gz)[:-1] == recorded_events


def test_large_multi_window_transcript(spawn_runner, tmp_path):
    """Several 4 MiB windows, a protocol-typed line at a window edge, gzip and plain alike."""
    lines = []
    for i in range(60000):
        if i % 997 == 0:
            lines.append(encode({"type": "error", "message": f"m{i}", "pad": "y" * (i % 50)}))
        else:
            lines.append(encode({"type": "x", "i": i, "pad": "z" * (i % 300)}))
    data = b"".join(lines)
    assert len(data) > 2 * 4 * 2**20
    plain = tmp_path / "big.jsonl"
    plain.write_bytes(data)
    gz = tmp_path / "big.jsonl.gz"
    gz.write_bytes(gzip.compress(data, compresslevel=1))
    runner = spawn_runner("replay")
    for path in (plain, gz):
        turn = replay(runner, path)
        assert len(turn) == 60001
        assert turn[0]["event"] == {"type": "error", "message": "m0", "pad": ""}
        assert [t.get("i") for t in turn[1:-1] if t["type"] == "x"] == [i for i in range(1, 60000) if i % 997]


def test_non_json_lines_and_a_missing_final_newline_pass_through(spawn_runner, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"type":"a"}\nnot json at all\n\n[1,2]\n{"type":"b"}')
    runner = spawn_runner("replay")
    turn = replay(runner, path)
    assert turn == [{"type": "a"}, ("invalid", b"not json at all\n"), [1, 2], {"type": "b"}, {"type": "agent_stopped"}]


def test_empty_transcript_is_an_empty_turn(spawn_runner, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    runner = spawn_runner("replay")
    assert replay(runner, path) == [{"type": "agent_stopped"}]
    assert replay(runner, path, pace="recorded") == [{"type": "agent_stopped"}]


def test_relative_paths_are_taken_from_the_session_cwd(spawn_runner, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "t.jsonl").write_bytes(b'{"type":"rel"}\n')
    runner = spawn_runner("replay")
    runner.send(query_command("s1", "go", {"cwd": str(tmp_path), "provider_config": {"transcript": "sub/t.jsonl"}}))
    assert runner.read_turn()[1:] == [{"type": "rel"}, {"type": "agent_stopped"}]


# -- errors -----------------------------------------------------------------------


def test_missing_transcript_is_an_agent_error_naming_the_path(spawn_runner, tmp_path):
    missing = tmp_path / "nope.jsonl"
    runner = spawn_runner("replay")
    turn = replay(runner, missing)
    assert turn[-1]["type"] == "agent_error"
    assert str(missing) in turn[-1]["message"] and "No such file" in turn[-1]["message"]
    runner.send({"type": "ping"})
    assert runner.read() == {"type": "pong"}


def test_a_directory_or_fifo_is_refused_without_hanging(spawn_runner, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo):
        runner = spawn_runner("replay")  # options (the transcript) are fixed by the first query
        turn = replay(runner, path)
        assert turn[-1]["type"] == "agent_error"
        assert "not a regular file" in turn[-1]["message"] and str(path) in turn[-1]["message"]


def test_corrupt_gzip_is_an_agent_error(spawn_runner, tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    data = b"".join(encode({"type": "a", "i": i}) for i in range(20000))
    packed = gzip.compress(data)
    path.write_bytes(packed[: len(packed) // 2] + b"garbage" * 10)
    runner = spawn_runner("replay")
    turn = replay(runner, path)
    assert turn[-1]["type"] == "agent_error"
    assert str(path) in turn[-1]["message"]


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({}, "providerConfig.transcript"),
        ({"transcript": ""}, "providerConfig.transcript"),
        ({"transcript": 5}, "providerConfig.transcript"),
        ({"transcript": "a\x00b"}, "providerConfig.transcript"),
        ({"transcript": "x" * 5000}, "providerConfig.transcript"),
        ({"transcript": "t", "pace": "slow"}, "providerConfig.pace"),
        ({"transcript": "t", "speed": 0}, "providerConfig.speed"),
        ({"transcript": "t", "maxGap": -1}, "providerConfig.maxGap"),
        ({"transcript": "t", "format": "xml"}, "providerConfig.format"),
    ],
)
def test_bad_config_is_an_agent_error(spawn_runner, config, fragment):
    runner = spawn_runner("replay")
    runner.send(query_command("s1", "x", {"provider_config": config}))
    turn = runner.read_turn()
    assert types(turn) == ["agent_started", "agent_error"]
    assert fragment in turn[-1]["message"]


# -- pace -------------------------------------------------------------------------


def _timed(tmp_path: Path, gaps: list[float]) -> Path:
    path = tmp_path / "timed.jsonl"
    ts = 1_700_000_000.0
    lines = [encode({"type": "t", "n": 0, "timestamp": ts})]
    for n, gap in enumerate(gaps, 1):
        ts += gap
        lines.append(encode({"type": "untimed", "n": n}))
        lines.append(encode({"type": "t", "n": n, "timestamp": ts}))
    path.write_bytes(b"".join(lines))
    return path


def test_recorded_pace_waits_for_each_timestamp(spawn_runner, tmp_path):
    path = _timed(tmp_path, [0.3, 0.3])
    runner = spawn_runner("replay")
    started = time.monotonic()
    turn = replay(runner, path, pace="recorded")
    elapsed = time.monotonic() - started
    assert [e["n"] for e in turn[:-1]] == [0, 1, 1, 2, 2]
    assert elapsed >= 0.6  # never early (a lower bound only: a busy machine can only be later)


def test_max_gap_and_speed_shorten_waits(spawn_runner, tmp_path):
    path = _timed(tmp_path, [3600.0, 7200.0])  # hours apart in the recording
    runner = spawn_runner("replay")
    turn = replay(runner, path, pace="recorded", maxGap=0.05)
    assert len(turn) == 6
    turn = replay(runner, path, pace="recorded", speed=1e5)
    assert len(turn) == 6


def test_stop_during_a_recorded_wait(spawn_runner, tmp_path):
    path = _timed(tmp_path, [60.0])
    runner = spawn_runner("replay")
    runner.send(query_command("s1", "x", {"provider_config": {"transcript": str(path), "pace": "recorded"}}))
    assert runner.read()["type"] == "agent_started"
    assert runner.read()["n"] == 0
    runner.send(stop_command("s1"))
    rest = runner.read_all(timeout=5)
    assert rest[-1] == {"type": "agent_stopped"}
    assert [e.get("n") for e in rest[:-1]] in ([], [1])  # the untimed line may already be out
    assert runner.wait(5) == 0


def test_stop_during_a_full_pace_replay(spawn_runner, tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(encode({"type": "x", "pad": "p" * 500}) * 200_000)  # ~100 MB
    runner = spawn_runner("replay")
    runner.send(query_command("s1", "x", {"provider_config": {"transcript": str(path)}}))
    runner.read_until("x")
    runner.send(stop_command("s1"))
    rest = runner.read_all(timeout=60)
    assert rest[-1] == {"type": "agent_stopped"}
    assert runner.wait(5) == 0


# -- units ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T01:34:06.087Z", 1795484046.087),
        ("2026-11-24T01:34:06Z", 1795484046.0),
        ("2026-11-24T01:34:06.087000000Z", 1795484046.087),  # nanoseconds (Ollama created_at)
        ("2026-11-24T02:34:06.5+01:00", 1795484046.5),
        ("2026-11-24T01:34:06-0030", 1795485846.0),
        ("2026-11-24 01:34:06", 1795484046.0),
        (1795484046, 1795484046.0),
        (1795484046087, 1795484046.087),  # milliseconds
        ("yesterday", None),
        ("2026-13-45T99:00:00Z", None),
        (None, None),
        (True, None),
        ([], None),
    ],
)
def test_parse_timestamp(value, expected):
    got = parse_timestamp(value)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-6)


def test_pace_clock():
    clock = PaceClock(speed=2.0, max_gap=5.0)
    assert clock.offset(None) == 0.0
    assert clock.offset(100.0) == 0.0  # the first timestamp starts the clock
    assert clock.offset(104.0) == 2.0  # 4 s at speed 2
    assert clock.offset(None) == 2.0  # untimed: with the previous line
    assert clock.offset(103.0) == 2.0  # backwards: no wait, and the clock does not go back
    assert clock.offset(106.0) == 3.0  # measured from the latest (104), not from 103
    assert clock.offset(1000.0) == 8.0  # a 447 s gap is capped at 5 s


def test_detect_format():
    assert detect_format(iter([b"junk", b'{"type":"ready"}'])) == "runner"
    assert detect_format(iter([b'{"type":"agent_event","event":{}}'])) == "runner"
    assert detect_format(iter([b'{"type":"system","subtype":"init"}', b'{"type":"ready"}'])) == "raw"
    assert detect_format(iter([b'{"type":"error","message":"x"}'])) == "raw"  # codex starts with one sometimes
    assert detect_format(iter([])) == "raw"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    # (no newline inside a line, and no \x1f: a plain file must not start with the gzip magic)
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\x1f", b"")), max_size=30),
    final_newline=st.booleans(),
    window=st.integers(min_value=1, max_value=64),
    max_line=st.integers(min_value=1, max_value=50),
    gz=st.booleans(),
)
def test_windows_cut_any_file_into_whole_lines(tmp_path, monkeypatch, lines, final_newline, window, max_line, gz):
    """Whatever the read size: spans end at newlines, keep every line in order, drop over-long ones."""
    import sidecar_sync.runners.replay as replay_module

    monkeypatch.setattr(replay_module, "WINDOW", window)
    monkeypatch.setattr(replay_module, "MAX_LINE", max_line)
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path = tmp_path / "w.jsonl"
    path.write_bytes(gzip.compress(data) if gz else data)
    counts = replay_module._Counts()
    transcript = replay_module._Transcript(str(path))
    try:
        spans = [bytes(buf[start:end]) for buf, start, end in transcript.windows(counts)]
    finally:
        transcript.close()
    assert all(span.endswith(b"\n") and span for span in spans)
    got = b"".join(spans).split(b"\n")[:-1]
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # the file's final newline ends the last line; it starts none
    # Lines come out in order; a line is missing only if it outgrew the cap while
    # crossing a read boundary (lines within one read pass whatever their size:
    # the manager's framer caps those).
    dropped = []
    position = 0
    for line in expected:
        if position < len(got) and got[position] == line:
            position += 1
        else:
            dropped.append(line)
    assert position == len(got)
    assert len(dropped) == counts.oversized
    assert all(len(line) > max_line for line in dropped)
