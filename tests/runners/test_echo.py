"""The echo runner: Claude stream-json shaped, deterministic, configurable."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from sidecar_sync.protocol import query_command, stop_command
from sidecar_sync.runners.echo import turn_ids
from tests.runners.client import events, types

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "runners"


def _first_of(path: Path, kind: str) -> dict:
    for line in path.read_bytes().splitlines():
        event = orjson.loads(line)
        if event["type"] == kind:
            return event
    raise AssertionError(kind)


def test_a_turn_has_claude_stream_json_shape(spawn_runner, tmp_path):
    runner = spawn_runner("echo")
    runner.send(query_command("sess-1", "hello there", {"cwd": str(tmp_path)}))
    init, assistant, result = events(runner.read_turn())

    real = FIXTURES / "claude_plain.jsonl"
    real_init, real_assistant, real_result = (_first_of(real, k) for k in ("system", "assistant", "result"))

    assert {k: init[k] for k in ("type", "subtype", "session_id", "model", "cwd", "tools")} == {
        "type": "system",
        "subtype": "init",
        "session_id": "sess-1",
        "model": "echo",
        "cwd": str(tmp_path),
        "tools": [],
    }
    # only keys the real CLI also writes, and the runner's own agent_version
    assert set(init) - {"agent_version"} <= set(real_init)
    assert init["agent_version"].startswith("sidecar_sync echo ")

    assert assistant["message"]["content"] == [{"type": "text", "text": "hello there"}]
    assert assistant["message"]["role"] == "assistant"
    assert assistant["parent_tool_use_id"] is None
    assert set(assistant) <= set(real_assistant) | {"timestamp"}
    assert set(assistant["message"]) <= set(real_assistant["message"])

    assert result["subtype"] == "success" and result["is_error"] is False
    assert result["total_cost_usd"] == 0
    assert result["usage"]["input_tokens"] == 0 and result["usage"]["output_tokens"] == 0
    assert result["num_turns"] == 1
    assert result["result"] == "hello there"
    assert isinstance(result["duration_ms"], int)
    assert set(result) <= set(real_result)


def test_output_is_byte_for_byte_reproducible(spawn_runner, tmp_path):
    def session() -> list[bytes]:
        runner = spawn_runner("echo")
        runner.send(query_command("fixed", "one", {"cwd": str(tmp_path), "provider_config": {"chunks": 3}}))
        runner.send(query_command("fixed", "two"))
        runner.read_turn()
        runner.read_turn()
        runner.close_stdin()
        assert runner.read_all() == []
        assert runner.wait() == 0
        return runner.raw_lines

    first, second = session(), session()
    assert first == second
    uuids = [orjson.loads(line)["event"]["uuid"] for line in first if b'"agent_event"' in line]
    assert len(uuids) == len(set(uuids)) == 2 * (1 + 3 + 1)


def test_resume_session_id_becomes_the_session_id(spawn_runner):
    runner = spawn_runner("echo")
    runner.send(query_command("mgr-id", "hi", {"resume_session_id": "claude-old-id"}))
    evs = events(runner.read_turn())
    assert {e["session_id"] for e in evs} == {"claude-old-id"}


def test_many_chunks_share_a_message_id_and_arrive_in_order(spawn_runner):
    runner = spawn_runner("echo")
    runner.send(query_command("s", "x", {"provider_config": {"chunks": 20000}}))
    evs = events(runner.read_turn())
    chunks = [e for e in evs if e["type"] == "assistant"]
    assert len(chunks) == 20000
    assert len({c["message"]["id"] for c in chunks}) == 1
    seqs = [int(c["uuid"].rsplit("-", 1)[1], 16) for c in chunks]
    assert seqs == list(range(2, 20002))
    assert evs[-1]["type"] == "result"


def test_delay_makes_a_turn_stop_can_interrupt(spawn_runner):
    runner = spawn_runner("echo")
    runner.send(query_command("s", "slow", {"provider_config": {"delay": 20, "chunks": 5}}))
    runner.read_until("agent_event")
    runner.send(stop_command("s"))
    rest = runner.read_all(timeout=5)
    assert types(rest) == ["agent_event", "agent_event", "agent_stopped"]
    interrupted, result = events(rest)
    assert interrupted["type"] == "user"
    assert interrupted["message"]["content"][0]["text"] == "[Request interrupted by user]"
    assert result["subtype"] == "error_during_execution" and result["is_error"] is True
    assert result["terminal_reason"] == "aborted_streaming"
    assert runner.wait(5) == 0


def test_fail_ends_the_turn_with_agent_error(spawn_runner):
    runner = spawn_runner("echo")
    runner.send(query_command("s", "x", {"provider_config": {"fail": "model exploded"}}))
    turn = runner.read_turn()
    assert types(turn) == ["agent_started", "agent_event", "agent_error"]
    assert turn[-1]["message"] == "model exploded"
    runner.send(query_command("s", "again"))  # every turn of the session fails the same way
    assert runner.read_turn()[-1]["message"] == "model exploded"


def test_exit_code_makes_the_runner_crash_mid_turn(spawn_runner):
    runner = spawn_runner("echo")
    runner.send(query_command("s", "x", {"provider_config": {"exitCode": 3}}))
    lines = runner.read_all()
    assert types(lines) == ["agent_started", "agent_event"]
    assert runner.wait() == 3


def test_stderr_option_writes_a_line_per_turn(spawn_runner):
    runner = spawn_runner("echo")
    runner.send(query_command("s", "x", {"provider_config": {"stderr": "diagnostic line"}}))
    runner.read_turn()
    runner.send(query_command("s", "y"))
    runner.read_turn()
    runner.close_stdin()
    runner.wait()
    assert runner.stderr_lines.count("diagnostic line") == 2


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"delay": "slow"}, "providerConfig.delay"),
        ({"delay": -1}, "providerConfig.delay"),
        ({"delay": 1e9}, "providerConfig.delay"),
        ({"chunks": 0}, "providerConfig.chunks"),
        ({"chunks": 2.5}, "providerConfig.chunks"),
        ({"chunks": True}, "providerConfig.chunks"),
        ({"fail": 1}, "providerConfig.fail"),
        ({"exitCode": 999}, "providerConfig.exitCode"),
    ],
)
def test_bad_provider_config_is_an_agent_error_naming_the_key(spawn_runner, config, fragment):
    runner = spawn_runner("echo")
    runner.send(query_command("s", "x", {"provider_config": config}))
    turn = runner.read_turn()
    assert types(turn) == ["agent_started", "agent_error"]
    assert fragment in turn[-1]["message"]


def test_unknown_provider_config_keys_are_warned_about(spawn_runner):
    runner = spawn_runner("echo")
    runner.send(query_command("s", "x", {"provider_config": {"dealy": 1}}))
    assert runner.read_turn()[-1] == {"type": "agent_stopped"}
    runner.close_stdin()
    runner.wait()
    assert "unknown providerConfig key 'dealy'" in runner.stderr()


def test_turn_ids_are_deterministic_and_distinct():
    assert turn_ids("a", 1) == turn_ids("a", 1)
    assert len({turn_ids("a", 1), turn_ids("a", 2), turn_ids("b", 1)}) == 3
    prefix, message_id = turn_ids("a", 1)
    uuid = f"{prefix}{7:012x}"
    assert [len(part) for part in uuid.split("-")] == [8, 4, 4, 4, 12]
    assert message_id.startswith("msg_echo_")


def test_echo_starts_without_heavy_imports():
    """The echo runner imports nothing heavy (no asyncio, no subprocess, no http)."""
    import subprocess
    import sys

    code = (
        "import sys, runpy\n"
        "import sidecar_sync.runners.echo, sidecar_sync.runners._base\n"
        "bad = [m for m in ('asyncio', 'subprocess', 'http.client', 'ssl', 'gzip') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=True, env=os.environ)
    assert out.stdout.decode().strip() == ""
