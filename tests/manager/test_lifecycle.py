"""Sessions on real runner processes: the API, protocol routing, lifecycle, accounting."""

from __future__ import annotations

import sys
import threading

import pytest

from sidecar_sync import (
    InvalidOptionError,
    SessionExistsError,
    SessionNotActiveError,
    SessionNotFoundError,
    SessionState,
    SidecarError,
    SidecarManager,
    WaitTimeoutError,
)
from tests.manager.conftest import TIMEOUT, Recorder, scripted


def test_start_wait_follow_up_and_stop(manager: SidecarManager, recorder: Recorder) -> None:
    """A turn runs, the session goes idle, a follow-up runs, stop ends it done."""
    manager.register_provider("good", scripted("good", count=3))
    state = manager.start_session("s", "good", "hi", on_message=recorder.on_message, on_status=recorder.on_status)
    assert isinstance(state, SessionState)
    assert state.status == "running" and state.pid is not None and state.provider == "good"

    state = manager.wait("s", timeout=TIMEOUT)
    assert state.status == "idle"
    assert recorder.texts == ["1:0", "1:1", "1:2"]

    manager.write_prompt("s", "again")
    assert manager.get_session("s").status == "running"
    state = manager.wait("s", timeout=TIMEOUT)
    assert state.status == "idle"
    assert recorder.texts == ["1:0", "1:1", "1:2", "2:0", "2:1", "2:2"]

    manager.stop_session("s")
    recorder.wait_final()
    state = manager.get_session("s")
    assert state.status == "done" and state.exit_code == 0 and state.error is None
    assert state.ended_at is not None and state.ended_at >= state.started_at
    assert [s for s, _ in recorder.statuses] == ["running", "idle", "running", "idle", "done"]
    # callbacks ran on the session's stdout thread only
    assert recorder.threads == {"sidecar-stdout-s"}


def test_final_status_comes_after_every_message(manager: SidecarManager, recorder: Recorder) -> None:
    """done is reported only after stdout was drained: no message arrives after it."""
    manager.register_provider("many", scripted("good", count=5000, exit_after=1, code=0))
    manager.start_session("s", "many", "go", on_message=recorder.on_message, on_status=recorder.on_status)
    recorder.wait_final()
    assert recorder.events[-1] == ("status", "done")
    assert recorder.texts == [f"1:{i}" for i in range(5000)]
    assert manager.get_session("s").messages == 5001  # + the cost message


def test_cost_is_latest_and_tokens_accumulate(manager: SidecarManager) -> None:
    manager.register_provider("good", scripted("good", count=1, cost=0.25, tokens=7))
    manager.start_session("s", "good", "one")
    manager.wait("s", timeout=TIMEOUT)
    for prompt in ("two", "three"):
        manager.write_prompt("s", prompt)
        manager.wait("s", timeout=TIMEOUT)
    state = manager.get_session("s")
    assert state.cost_usd == pytest.approx(0.75)  # the runner reports a running total: 0.25 * turn
    assert state.input_tokens == 21 and state.output_tokens == 42
    assert state.messages == 6


def test_bare_provider_events_without_protocol(manager: SidecarManager, recorder: Recorder) -> None:
    """A program printing bare stream-json (no envelope, no control lines) works as a sidecar."""
    manager.register_provider("bare", scripted("good", count=2, bare=1, exit_after=1))
    manager.start_session("s", "bare", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    recorder.wait_final()
    assert recorder.texts == ["1:0", "1:1"]
    assert [m.type for m in recorder.messages] == ["text", "text", "cost"]
    assert manager.get_session("s").status == "done"
    # no agent_started/agent_stopped ever came: running until the process ended
    assert [s for s, _ in recorder.statuses] == ["done"]


def test_ready_and_pong_are_not_forwarded_and_error_lines_are(manager: SidecarManager, recorder: Recorder) -> None:
    manager.register_provider("good", scripted("good", count=1, error_line=1, pong=1))
    manager.start_session("s", "good", "x", on_message=recorder.on_message)
    manager.wait("s", timeout=TIMEOUT)
    kinds = [m.type for m in recorder.messages]
    assert kinds == ["error", "text", "cost"]  # ready and pong never show up
    assert recorder.messages[0].content.message == "complaint 1"
    assert manager.get_session("s").status == "idle"  # a protocol complaint is not fatal


def test_agent_error_turn_then_exit(manager: SidecarManager, recorder: Recorder) -> None:
    """agent_error ends the turn in ``error`` with the message; the runner exiting by itself keeps it final."""
    manager.register_provider("failing", scripted("good", count=1, fail="model overloaded", exit_after=1, code=0))
    manager.start_session("s", "failing", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    manager.wait("s", TIMEOUT, until="final")
    assert recorder.statuses == [
        ("running", None),
        ("error", "model overloaded"),  # the failed turn, runner alive
        ("error", "model overloaded"),  # final: it exited by itself after that turn
    ]
    state = manager.get_session("s")
    assert state.status == "error" and state.error == "model overloaded" and state.exit_code == 0
    assert state.finished and state.stop_step == "exited"
    assert recorder.texts == ["1:0"]
    # the failure is a message too, so an iterator or a replay of the output sees why
    assert [m.content.message for m in recorder.of_type("error")] == ["model overloaded"]


def test_failed_turn_then_successful_turn(manager: SidecarManager, recorder: Recorder) -> None:
    """A failed turn is ``error`` while the runner lives; the session still takes prompts and a
    successful turn makes it ``idle`` again; a caller's stop then means done."""
    manager.register_provider("flaky", scripted("good", count=1, fail="boom", fail_turns="1"))
    manager.start_session("s", "flaky", "x", on_status=recorder.on_status)
    state = manager.wait("s", timeout=TIMEOUT)
    assert state.status == "error" and state.error == "boom" and not state.finished
    manager.write_prompt("s", "retry")
    state = manager.wait("s", timeout=TIMEOUT)
    assert state.status == "idle" and state.error is None
    manager.stop_session("s")
    state = manager.wait("s", TIMEOUT)  # once a stop was requested, wait() returns at the final status
    assert state.status == "done" and state.error is None and state.stop_step == "stop" and state.finished
    assert recorder.statuses == [
        ("running", None),
        ("error", "boom"),
        ("running", None),
        ("idle", None),
        ("done", None),
    ]


def test_non_zero_exit_is_an_error_naming_the_code(manager: SidecarManager, recorder: Recorder) -> None:
    manager.register_provider("exits", scripted("good", count=2, exit_after=1, code=3))
    manager.start_session("s", "exits", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    recorder.wait_final()
    state = manager.get_session("s")
    assert state.status == "error" and state.exit_code == 3
    assert "exited with code 3" in (state.error or "")
    assert recorder.texts == ["1:0", "1:1"]
    assert recorder.statuses[-1] == ("error", state.error)


def test_killed_by_signal_names_the_signal(manager: SidecarManager, recorder: Recorder) -> None:
    import os
    import signal

    manager.register_provider("hold", scripted("hold"))
    state = manager.start_session("s", "hold", "x", on_status=recorder.on_status)
    assert state.pid is not None
    os.kill(state.pid, signal.SIGKILL)  # someone else kills the runner
    recorder.wait_final()
    state = manager.get_session("s")
    assert state.status == "error" and state.exit_code == -9
    assert "SIGKILL" in (state.error or "")


def test_wait_for_the_turn_returns_after_the_final_status_callback(manager: SidecarManager) -> None:
    """A runner dies mid-turn: ``wait()`` (until the turn) returns only once the final
    ``on_status`` call has returned, never while it runs."""
    import os
    import signal

    entered, release = threading.Event(), threading.Event()

    def on_status(session_id: str, status: str, error: str | None) -> None:
        if "SIGKILL" in (error or ""):
            entered.set()
            release.wait(TIMEOUT)

    manager.register_provider("hold", scripted("hold"))
    state = manager.start_session("s", "hold", "x", on_status=on_status)
    assert state.pid is not None
    os.kill(state.pid, signal.SIGKILL)
    assert entered.wait(TIMEOUT), "the final status never reached the callback"
    results: list[str] = []
    waiter = threading.Thread(target=lambda: results.append(manager.wait("s", TIMEOUT).status), daemon=True)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not results, "wait() returned while the final status callback ran"
    release.set()
    waiter.join(TIMEOUT)
    assert results == ["error"]


def test_registry_errors(manager: SidecarManager) -> None:
    manager.register_provider("good", scripted("good", count=1))
    manager.start_session("s", "good", "x")
    with pytest.raises(SessionExistsError):
        manager.start_session("s", "good", "x")
    for call in (
        lambda: manager.get_session("nope"),
        lambda: manager.stop_session("nope"),
        lambda: manager.write_prompt("nope", "x"),
        lambda: manager.remove_session("nope"),
        lambda: manager.wait("nope"),
        lambda: manager.iter_messages("nope"),
        lambda: manager.on_message("nope", print),
        lambda: manager.on_status("nope", print),
    ):
        with pytest.raises(SessionNotFoundError) as info:
            call()
        assert isinstance(info.value, LookupError) and "'nope' not found" in str(info.value)
    assert [s.session_id for s in manager.list_sessions()] == ["s"]


def test_write_prompt_after_done_is_refused(manager: SidecarManager, recorder: Recorder) -> None:
    manager.register_provider("good", scripted("good", count=1))
    manager.start_session("s", "good", "x", on_status=recorder.on_status)
    manager.stop_session("s")
    recorder.wait_final()
    with pytest.raises(SessionNotActiveError) as info:
        manager.write_prompt("s", "more")
    assert "is done" in str(info.value)
    manager.stop_session("s")  # stopping a finished session does nothing


def test_callbacks_added_later_see_later_messages(manager: SidecarManager) -> None:
    manager.register_provider("good", scripted("good", count=2))
    manager.start_session("s", "good", "x")
    manager.wait("s", timeout=TIMEOUT)
    late = Recorder()
    manager.on_message("s", late.on_message)
    manager.on_status("s", late.on_status)
    manager.write_prompt("s", "y")
    manager.wait("s", timeout=TIMEOUT)
    assert late.texts == ["2:0", "2:1"]
    assert [s for s, _ in late.statuses] == ["running", "idle"]


def test_wait_timeout_and_bad_timeouts(manager: SidecarManager) -> None:
    manager.register_provider("hold", scripted("hold"))
    manager.start_session("s", "hold", "x")
    with pytest.raises(WaitTimeoutError) as info:
        manager.wait("s", timeout=0.2)
    assert isinstance(info.value, TimeoutError) and "still running" in str(info.value)
    for bad in (-1, -0.001, float("nan"), "1", True):
        with pytest.raises(InvalidOptionError):
            manager.wait("s", timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidOptionError):
            manager.iter_messages("s", timeout=bad)  # type: ignore[arg-type]


def test_wait_from_own_callback_is_refused(manager: SidecarManager, recorder: Recorder) -> None:
    errors: list[BaseException] = []

    def on_message(session_id: str, messages: list) -> None:
        try:
            manager.wait(session_id, timeout=1)
        except SidecarError as exc:
            errors.append(exc)

    manager.register_provider("good", scripted("good", count=1))
    manager.start_session("s", "good", "x", on_message=on_message)
    manager.wait("s", timeout=TIMEOUT)
    assert errors and "would deadlock" in str(errors[0])


def test_context_manager_leaves_nothing(no_leaks: None) -> None:
    with SidecarManager(stop_grace=0.5, kill_grace=0.5) as manager:
        manager.register_provider("good", scripted("good", count=1))
        manager.register_provider("hold", scripted("hold"))
        manager.start_session("a", "good", "x")
        manager.start_session("b", "hold", "x")
        manager.wait("a", timeout=TIMEOUT)
    states = {s.session_id: s for s in manager.list_sessions()}
    assert states["a"].status == "done" and states["b"].status == "done"
    with pytest.raises(SidecarError, match="shut down"):
        manager.start_session("c", "good", "x")


def test_echo_provider_end_to_end(manager: SidecarManager, recorder: Recorder) -> None:
    """The built-in echo runner answers in Claude shape through the claude adapter."""
    manager.start_session("e", "echo", "hello there", on_message=recorder.on_message)
    state = manager.wait("e", timeout=TIMEOUT)
    assert state.status == "idle"
    assert [m.type for m in recorder.messages] == ["init", "text", "cost"]
    assert recorder.texts == ["hello there"]
    manager.write_prompt("e", "second")
    manager.wait("e", timeout=TIMEOUT)
    assert recorder.texts == ["hello there", "second"]


def test_options_reach_the_runner_on_the_wire(manager: SidecarManager, tmp_path) -> None:  # noqa: ANN001
    """The first query carries the options in camelCase; unset ones are omitted."""
    manager.register_provider("env", scripted("env"))
    got = Recorder()
    manager.start_session(
        "s",
        "env",
        "prompt",
        cwd=str(tmp_path),
        model="m1",
        max_turns=3,
        additional_directories=[str(tmp_path)],
        provider_config={"pace": 0, "nested": {"a": [1]}},
        on_message=got.on_message,
    )
    manager.wait("s", timeout=TIMEOUT)
    (message,) = got.of_type("unknown")
    query = message.content["query"]
    assert query == {
        "type": "query",
        "sessionId": "s",
        "prompt": "prompt",
        "cwd": str(tmp_path),
        "model": "m1",
        "maxTurns": 3,
        "permissionMode": "bypassPermissions",
        "additionalDirectories": [str(tmp_path)],
        "providerConfig": {"pace": 0, "nested": {"a": [1]}},
    }
    assert message.content["cwd"] == str(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"session_id": ""}, "session_id"),
        ({"session_id": 5}, "session_id"),
        ({"prompt": None}, "prompt"),
        ({"model": 3}, "model"),
        ({"max_turns": 0}, "max_turns"),
        ({"max_turns": True}, "max_turns"),
        ({"additional_directories": "/tmp"}, "additional_directories"),
        ({"provider_config": {"x": object()}}, "provider_config"),
        ({"provider_config": [1]}, "provider_config"),
        ({"on_message": 5}, "on_message"),
        ({"cwd": "/definitely/not/here"}, "does not exist"),
        ({"cwd": __file__}, "is not a directory"),
        ({"claude_config_dir": "/definitely/not/here"}, "claude_config_dir"),
    ],
)
def test_invalid_options_are_refused_before_spawning(manager: SidecarManager, kwargs: dict, match: str) -> None:
    from tests._proc import descendants

    args = {"session_id": "s", "provider": "echo", "prompt": "x"}
    args.update(kwargs)
    before = descendants()
    with pytest.raises(InvalidOptionError, match=match):
        manager.start_session(args.pop("session_id"), args.pop("provider"), args.pop("prompt"), **args)
    assert descendants() == before
    assert manager.list_sessions() == []


def test_manager_constructor_validation() -> None:
    for kwargs in (
        {"stop_grace": -1},
        {"cleanup_grace": None},
        {"max_line_size": 0},
        {"max_line_size": 100, "max_pending": 10},
        {"python": ""},
        {"message_backlog": -1},
    ):
        with pytest.raises(InvalidOptionError):
            SidecarManager(**kwargs)  # type: ignore[arg-type]
    SidecarManager(python=sys.executable).shutdown()


def test_status_callback_drives_follow_ups(manager: SidecarManager) -> None:
    """A callback may send the next prompt when a turn ends (the reader is not blocked by it)."""
    manager.register_provider("good", scripted("good", count=2))
    turns: list[str] = []
    finished = threading.Event()

    def on_status(session_id: str, status: str, error: str | None) -> None:
        if status != "idle":
            return
        turns.append(status)
        if len(turns) < 3:
            manager.write_prompt(session_id, f"follow-up {len(turns)}")
        else:
            manager.stop_session(session_id)
            finished.set()

    recorder = Recorder()
    manager.start_session("s", "good", "x", on_message=recorder.on_message, on_status=on_status)
    assert finished.wait(TIMEOUT)
    assert recorder.texts == ["1:0", "1:1", "2:0", "2:1", "3:0", "3:1"]
