"""Harness controls: turn and idle timeouts and budgets enforced for any runner, and each
turn's outcome, cost and tokens in ``SessionState.turns`` — from what the agents print."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync import InvalidOptionError, SidecarManager, StopStep, TurnResult
from tests.manager.conftest import TIMEOUT, scripted

DATA = Path(__file__).resolve().parents[1] / "data"


def outcomes(state: Any) -> list[str]:
    return [turn.outcome for turn in state.turns]


# -- limits ---------------------------------------------------------------------------


def test_turn_timeout_stops_a_turn_that_never_ends(manager: SidecarManager) -> None:
    manager.register_provider("hold", scripted("hold"))
    started = time.monotonic()
    manager.start_session("s", "hold", "x", turn_timeout=0.5)
    state = manager.wait("s", TIMEOUT)
    assert time.monotonic() - started < 0.5 + TIMEOUT / 3
    assert state.finished and state.status == "error"
    assert (state.error or "").startswith("turn_timeout=0.5 s exceeded")
    assert outcomes(state) == ["timeout"] and state.turns[0].error == state.error
    assert state.stop_step is StopStep.STOP  # the normal ladder: hold obeys the stop command


def test_idle_timeout_counts_silence_not_work(manager: SidecarManager) -> None:
    manager.register_provider("chatty", scripted("good", count=20, delay=0.05))  # 1 s of steady output
    manager.register_provider("silent", scripted("hold"))  # one event, then nothing
    manager.start_session("busy", "chatty", "x", idle_timeout=0.4)
    assert manager.wait("busy", TIMEOUT).status == "idle"
    manager.start_session("quiet", "silent", "x", idle_timeout=0.4)
    state = manager.wait("quiet", TIMEOUT)
    assert state.status == "error" and (state.error or "").startswith("idle_timeout=0.4 s exceeded")
    assert outcomes(state) == ["idle_timeout"]
    assert outcomes(manager.get_session("busy")) == ["success"]


def test_the_idle_clock_starts_with_each_prompt(manager: SidecarManager) -> None:
    manager.register_provider("good", scripted("good", count=1))
    manager.start_session("s", "good", "x", idle_timeout=0.3, turn_timeout=0.3)
    assert manager.wait("s", TIMEOUT).status == "idle"
    time.sleep(0.5)  # idle between turns is not a turn
    manager.write_prompt("s", "again")
    state = manager.wait("s", TIMEOUT)
    assert state.status == "idle" and outcomes(state) == ["success", "success"]


def test_max_cost_stops_the_turn_that_goes_over(manager: SidecarManager) -> None:
    manager.register_provider("costly", scripted("good", count=1, cost=0.5))  # a running total: 0.5, 1.0, ...
    manager.start_session("s", "costly", "x", max_cost_usd=0.75)
    state = manager.wait("s", TIMEOUT)
    assert state.status == "idle" and state.cost_usd == 0.5
    manager.write_prompt("s", "more")
    state = manager.wait("s", TIMEOUT)
    assert state.finished and state.status == "error"
    assert (state.error or "").startswith("max_cost_usd=0.75 exceeded")
    assert outcomes(state) == ["success", "budget"]


def test_max_tokens_counts_input_and_output(manager: SidecarManager) -> None:
    manager.register_provider("wordy", scripted("good", count=1, tokens=10))  # 10 in, 20 out per turn
    manager.start_session("s", "wordy", "x", max_tokens=50)
    assert manager.wait("s", TIMEOUT).status == "idle"
    manager.write_prompt("s", "more")
    state = manager.wait("s", TIMEOUT)
    assert state.status == "error" and "max_tokens=50 exceeded: the session used 60 tokens" in (state.error or "")
    assert outcomes(state) == ["success", "budget"]


@pytest.mark.parametrize(
    "limits",
    [
        {"turn_timeout": 0},
        {"idle_timeout": -1},
        {"max_cost_usd": float("nan")},
        {"max_tokens": 1.5},
        {"turn_timeout": "1"},
    ],
)
def test_bad_limits_are_refused_before_spawning(manager: SidecarManager, limits: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError):
        manager.start_session("s", "echo", "x", **limits)
    assert manager.list_sessions() == []


# -- turn results ---------------------------------------------------------------------


def test_each_turn_has_its_own_cost_tokens_and_messages(manager: SidecarManager) -> None:
    manager.register_provider("good", scripted("good", count=3, cost=0.25, tokens=7))
    manager.start_session("s", "good", "x")
    manager.wait("s", TIMEOUT)
    manager.write_prompt("s", "again")
    state = manager.wait("s", TIMEOUT)
    first, second = state.turns
    assert isinstance(first, TurnResult) and first.index == 1 and second.index == 2
    assert first.outcome == second.outcome == "success" and first.ok
    assert first.cost_usd == pytest.approx(0.25) and second.cost_usd == pytest.approx(0.25)  # 0.25, then 0.50 in all
    assert (first.input_tokens, first.output_tokens) == (7, 14)  # distinct in and out
    assert (second.input_tokens, second.output_tokens) == (7, 14)
    assert first.messages == second.messages == 4
    assert first.started_at <= first.ended_at <= second.started_at <= second.ended_at
    assert (state.input_tokens, state.output_tokens) == (14, 28)


def test_failed_cancelled_and_crashed_turns(manager: SidecarManager) -> None:
    manager.register_provider("failing", scripted("good", count=1, fail="boom"))
    manager.register_provider("down", scripted("good", count=1, fail="no route to model", fail_outcome="api_error"))
    manager.register_provider("hold", scripted("hold"))
    manager.register_provider("crash", scripted("crash", count=2, code=3))
    manager.start_session("f", "failing", "x")
    manager.start_session("d", "down", "x")
    manager.start_session("h", "hold", "x")
    manager.start_session("c", "crash", "x")
    assert outcomes(manager.wait("f", TIMEOUT)) == ["error"]
    assert outcomes(manager.wait("d", TIMEOUT)) == ["api_error"]
    manager.stop_session("h")
    state = manager.wait("h", TIMEOUT)
    assert state.status == "done" and outcomes(state) == ["cancelled"]
    state = manager.wait("c", TIMEOUT, until="final")
    assert state.status == "error" and outcomes(state) == ["crashed"] and state.turns[0].messages == 2


def test_turns_without_cost_messages_have_unknown_usage(manager: SidecarManager) -> None:
    manager.register_provider("failing", scripted("good", count=1, fail="boom"))
    manager.start_session("s", "failing", "x")
    (turn,) = manager.wait("s", TIMEOUT).turns
    assert turn.cost_usd is None and turn.input_tokens is None and turn.output_tokens is None


# -- classification from what the agents really print (recordings replayed) ---------------


def replayed(manager: SidecarManager, transcript: Path, **config: Any) -> Any:
    session_id = transcript.stem
    manager.start_session(session_id, "replay", "x", provider_config={"transcript": str(transcript), **config})
    return manager.wait(session_id, TIMEOUT)


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("claude/claude_plain.jsonl", "success"),
        ("claude/claude_tool_bash.jsonl", "success"),
        ("claude/claude_api_error_500.jsonl", "api_error"),  # is_error with subtype "success"
        ("claude/claude_noauth.jsonl", "api_error"),  # "Not logged in"
        ("codex/codex_plain.jsonl", "success"),
        ("codex/codex_api_error_401.jsonl", "api_error"),  # retries, then turn.failed
    ],
)
def test_outcomes_follow_what_the_agents_print(manager: SidecarManager, name: str, outcome: str) -> None:
    state = replayed(manager, DATA / name)
    assert outcomes(state) == [outcome], state.turns


def test_codex_retries_do_not_fail_a_turn_that_completes(manager: SidecarManager, tmp_path: Path) -> None:
    events = [orjson.loads(line) for line in (DATA / "codex" / "codex_plain.jsonl").read_bytes().splitlines()]
    completed = next(i for i, e in enumerate(events) if e["type"] == "turn.completed")
    retry = {"type": "error", "message": "Reconnecting... 1/5 (stream disconnected before completion)"}
    events.insert(completed - 1, retry)
    path = tmp_path / "codex_retry_then_done.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    state = replayed(manager, path, adapter="codex")
    assert outcomes(state) == ["success"]


def test_claude_max_turns_and_budget_results(manager: SidecarManager, tmp_path: Path) -> None:
    base = [orjson.loads(line) for line in (DATA / "claude" / "claude_plain.jsonl").read_bytes().splitlines()]
    result = next(e for e in base if e["type"] == "result")
    for subtype, outcome in (("error_max_turns", "max_turns"), ("error_max_budget_usd", "budget")):
        path = tmp_path / f"{subtype}.jsonl"
        failed = {**result, "subtype": subtype, "is_error": True, "result": f"stopped: {subtype}"}
        path.write_bytes(b"".join(orjson.dumps(failed if e is result else e) + b"\n" for e in base))
        assert outcomes(replayed(manager, path)) == [outcome]


def test_the_agent_version_comes_from_the_init_event(manager: SidecarManager) -> None:
    state = replayed(manager, DATA / "claude" / "claude_plain.jsonl")
    assert state.agent_version is not None and state.agent_version.startswith("Claude Code 2.1.")
