"""Recordings: a session written to a file as received, replayed to the same messages by
``Replay`` and by the ``replay`` provider (turn by turn, at recorded pace if asked)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync import InvalidOptionError, Replay, SidecarManager
from tests.manager.conftest import TIMEOUT, Recorder, scripted


def shape(messages: list[Any]) -> list[tuple[Any, ...]]:
    """What a message says, ids and timestamps aside."""
    return [(m.type, m.parent_id, orjson.dumps(m.to_dict()["content"])) for m in messages]


def lines_of(path: Path) -> list[dict[str, Any]]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    out = []
    for line in data.splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            out.append({"type": "<not json>"})
    return out


def record_echo(manager: SidecarManager, path: Path, **config: Any) -> tuple[Recorder, Any]:
    recorder = Recorder()
    manager.start_session(
        "live", "echo", "first prompt", record=path, on_message=recorder.on_message,
        provider_config={"chunks": 3, **config},
    )  # fmt: skip
    manager.wait("live", TIMEOUT)
    manager.write_prompt("live", "second prompt")
    manager.wait("live", TIMEOUT)
    manager.stop_session("live")
    state = manager.wait("live", TIMEOUT)
    return recorder, state


@pytest.mark.parametrize("name", ["session.jsonl", "session.jsonl.gz"])
def test_a_recording_holds_the_output_the_prompts_and_how_it_ended(
    manager: SidecarManager, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    _, state = record_echo(manager, path)
    lines = lines_of(path)
    header, end = lines[0], lines[-1]
    assert header["type"] == "sidecar.recording" and header["version"] == 1
    assert header["provider"] == "echo" and header["session_id"] == "live"
    assert header["options"]["provider_config"] == {"chunks": 3}
    prompts = [line["prompt"] for line in lines if line["type"] == "sidecar.prompt"]
    assert prompts == ["first prompt", "second prompt"]
    assert any(line["type"] == "sidecar.time" for line in lines)
    assert [line["type"] for line in lines].count("agent_started") == 2
    assert end["type"] == "sidecar.end" and end["status"] == "done" == state.status
    assert end["agent_version"] == state.agent_version and end["agent_version"].startswith("sidecar_sync echo")
    assert [turn["outcome"] for turn in end["turns"]] == ["success", "success"]


def test_extra_env_values_never_reach_the_recording(manager: SidecarManager, tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    manager.start_session("s", "echo", "x", record=path, extra_env={"GATEWAY_API_KEY": "sk-very-secret"})
    manager.wait("s", TIMEOUT)
    manager.stop_session("s")
    manager.wait("s", TIMEOUT)
    text = path.read_text()
    assert "sk-very-secret" not in text
    assert lines_of(path)[0]["options"]["extra_env"] == ["GATEWAY_API_KEY"]


def test_replay_of_a_recording_gives_the_live_messages(manager: SidecarManager, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl.gz"
    live, state = record_echo(manager, path)
    replayed = list(Replay(path))
    assert shape(replayed) == shape(live.messages)
    assert Replay(path).run().messages == state.messages


def test_the_replay_provider_plays_a_recording_turn_by_turn(manager: SidecarManager, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    live, _ = record_echo(manager, path)
    again = Recorder()
    manager.start_session("again", "replay", "any prompt", provider_config={"transcript": str(path)},
                          on_message=again.on_message)  # fmt: skip
    state = manager.wait("again", TIMEOUT)
    assert state.status == "idle"
    manager.write_prompt("again", "any other")
    state = manager.wait("again", TIMEOUT)
    assert shape(again.messages) == shape(live.messages)
    assert [turn.outcome for turn in state.turns] == ["success", "success"]
    manager.write_prompt("again", "one too many")
    state = manager.wait("again", TIMEOUT)
    assert state.status == "error" and "no more turns" in (state.error or "")


def test_a_recorded_failure_replays_as_the_same_failure(manager: SidecarManager, tmp_path: Path) -> None:
    path = tmp_path / "failing.jsonl"
    manager.register_provider("down", scripted("good", count=2, fail="no route to model", fail_outcome="api_error"))
    live = Recorder()
    manager.start_session("live", "down", "x", record=path, on_message=live.on_message)
    live_state = manager.wait("live", TIMEOUT)
    manager.stop_session("live")
    manager.wait("live", TIMEOUT)
    again = Recorder()
    manager.start_session("again", "replay", "x", provider_config={"transcript": str(path), "adapter": "claude"},
                          on_message=again.on_message)  # fmt: skip
    state = manager.wait("again", TIMEOUT)
    assert state.status == "error" == live_state.status and state.error == live_state.error
    assert [t.outcome for t in state.turns] == [t.outcome for t in live_state.turns] == ["api_error"]
    assert shape(again.messages) == shape(live.messages)


def test_bad_lines_are_recorded_and_replayed_as_they_were(manager: SidecarManager, tmp_path: Path) -> None:
    path = tmp_path / "garbage.jsonl"
    manager.register_provider("garbage", scripted("garbage", big=2048))
    live = Recorder()
    manager.start_session("live", "garbage", "x", record=path, on_message=live.on_message)
    live_state = manager.wait("live", TIMEOUT)
    manager.stop_session("live")
    manager.wait("live", TIMEOUT)
    summary = Replay(path).run()
    assert summary.invalid_lines == live_state.invalid_lines > 0
    assert shape(list(Replay(path))) == shape(live.messages)


def test_recorded_pace_takes_the_time_the_live_turn_took(
    make_manager: Callable[..., SidecarManager], tmp_path: Path
) -> None:
    manager = make_manager()
    path = tmp_path / "slow.jsonl"
    manager.start_session("live", "echo", "x", record=path, provider_config={"chunks": 3, "delay": 0.2})
    manager.wait("live", TIMEOUT)
    manager.stop_session("live")
    manager.wait("live", TIMEOUT)
    for pace, least in (("full", 0.0), ("recorded", 0.6)):
        started = time.monotonic()
        manager.start_session(f"r-{pace}", "replay", "x", provider_config={"transcript": str(path), "pace": pace})
        manager.wait(f"r-{pace}", TIMEOUT)
        assert time.monotonic() - started >= least  # the recorded delays are waited for, at least


def test_an_unusable_record_path_is_refused_before_spawning(manager: SidecarManager, tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="record"):
        manager.start_session("s", "echo", "x", record=tmp_path / "no" / "such" / "dir" / "f.jsonl")
    assert manager.list_sessions() == []
