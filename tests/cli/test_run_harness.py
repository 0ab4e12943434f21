"""``sidecar-sync run`` flags for harnesses: limits, a recording, agent paths, extra environment."""

from __future__ import annotations

from pathlib import Path

import orjson

from sidecar_sync import Replay
from tests.cli.conftest import cli


def test_record_writes_a_recording_that_replays_to_the_same_messages(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl.gz"
    done = cli("run", "--json", "--record", str(path), "-c", "chunks=2", "hello there")
    assert done.returncode == 0, done.stderr
    live = [orjson.loads(line) for line in done.stdout.splitlines()]
    replayed = [m.to_dict() for m in Replay(path)]
    assert [(m["type"], m["content"]) for m in replayed] == [(m["type"], m["content"]) for m in live]


def test_idle_timeout_fails_the_run_and_names_the_limit() -> None:
    done = cli("run", "-c", "delay=5", "--idle-timeout", "0.3", "slow")
    assert done.returncode == 1
    assert b"idle_timeout=0.3 s exceeded" in done.stderr
    assert b"Traceback" not in done.stderr


def test_turn_timeout_and_budgets_are_passed_on() -> None:
    done = cli("run", "-c", "delay=5", "--turn-timeout", "0.3", "slow")
    assert done.returncode == 1 and b"turn_timeout=0.3 s exceeded" in done.stderr
    done = cli("run", "--max-cost", "1", "--max-tokens", "10", "cheap")
    assert done.returncode == 0, done.stderr  # echo costs nothing


def test_bad_limits_and_env_are_usage_errors() -> None:
    for args in (["--turn-timeout", "0"], ["--max-tokens", "-1"], ["--env", "NOEQUALS"], ["--env", "LD_PRELOAD=/x"]):
        done = cli("run", *args, "x")
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count(b"\n") == 1, done.stderr  # one line, no traceback, no log echo
    done = cli("run", "--env", "LD_PRELOAD=/x", "x")
    assert b"LD_PRELOAD" in done.stderr and b"dynamic loader" in done.stderr


def test_env_is_sent_as_the_sessions_extra_env(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    done = cli("run", "--record", str(path), "--env", "MY_FLAG=on", "--env", "OTHER=x=y", "x")
    assert done.returncode == 0, done.stderr
    header = orjson.loads(path.read_bytes().splitlines()[0])
    assert header["options"]["extra_env"] == ["MY_FLAG", "OTHER"]  # names only in a recording


def test_agent_paths_are_checked(tmp_path: Path) -> None:
    missing = tmp_path / "no-claude"
    done = cli("run", "-p", "claude", "--claude-path", str(missing), "x")
    assert done.returncode == 1
    assert str(missing).encode() in done.stderr and b"Traceback" not in done.stderr
    done = cli("run", "-p", "echo", "--claude-config-dir", str(tmp_path / "nope"), "x")
    assert done.returncode == 2 and b"claude_config_dir" in done.stderr
