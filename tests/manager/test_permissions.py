"""``start_session(on_permission=...)`` with real runner processes: the asker test runner.

``runners/asker.py`` asks what its prompt says and reports every answer it got as
an ``answer {...}`` text message, so each test sees the whole loop: runner ->
session -> permission thread -> callback -> runner.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from sidecar_sync import Allow, Deny, InvalidOptionError, PermissionRequest, SidecarError, SidecarManager
from tests.manager.conftest import RUNNERS, TIMEOUT, Recorder, scripted

ASKER = [sys.executable, str(RUNNERS / "asker.py")]

pytestmark = pytest.mark.timeout(90)


def prompt(**script: Any) -> str:
    return json.dumps(script)


def write(path: str = "/tmp/x", content: str = "hi") -> dict[str, Any]:
    return {"tool": "Write", "input": {"file_path": path, "content": content}}


def answers(recorder: Recorder) -> list[dict[str, Any]]:
    """The answers the runner reported, in the order it got them."""
    return [json.loads(t[len("answer ") :]) for t in recorder.texts if t.startswith("answer ")]


class Calls:
    """A callback: records each call (thread, request), may block until released, returns ``decision``."""

    def __init__(self, decision: object = True, *, block: bool = False) -> None:
        self.decision = decision
        self.calls: queue.Queue[tuple[str, PermissionRequest]] = queue.Queue()
        self.threads: list[str] = []
        self.release = threading.Event()
        if not block:
            self.release.set()
        self.returned = threading.Event()

    def __call__(self, session_id: str, request: PermissionRequest) -> Any:
        self.threads.append(threading.current_thread().name)
        self.calls.put((session_id, request))
        assert self.release.wait(TIMEOUT), "the test never released the callback"
        self.returned.set()
        return self.decision(request) if callable(self.decision) else self.decision

    def next_call(self) -> tuple[str, PermissionRequest]:
        return self.calls.get(timeout=TIMEOUT)


@pytest.fixture
def asker(make_manager: Callable[..., SidecarManager]) -> SidecarManager:
    manager = make_manager()
    manager.register_provider("asker", ASKER)
    return manager


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (True, {"allow": True, "updatedInput": None, "message": None}),
        (Allow(), {"allow": True, "updatedInput": None, "message": None}),
        (Allow({"file_path": "/tmp/y", "content": "changed"}),
         {"allow": True, "updatedInput": {"file_path": "/tmp/y", "content": "changed"}, "message": None}),
        (False, {"allow": False, "updatedInput": None, "message": "The host denied permission to use this tool."}),
        (Deny("no writes here"), {"allow": False, "updatedInput": None, "message": "no writes here"}),
    ],
)  # fmt: skip
def test_the_decision_reaches_the_runner(asker: SidecarManager, decision: object, expected: dict[str, Any]) -> None:
    calls, recorder = Calls(decision), Recorder()
    asker.start_session("s", "asker", prompt(ask=[write()]), on_permission=calls, on_message=recorder.on_message)
    state = asker.wait("s", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    assert answers(recorder) == [{"requestId": "t1-0", **expected}]
    session_id, request = calls.next_call()
    assert session_id == "s"
    assert request == PermissionRequest(
        "Write", {"file_path": "/tmp/x", "content": "hi"}, "toolu_1_0", [{"type": "setMode", "mode": "acceptEdits"}],
        {"asked": 0},
    )  # fmt: skip
    tool_calls = recorder.of_type("tool_call")
    assert [m.content.tool_use_id for m in tool_calls] == [request.tool_use_id]


def test_the_callback_runs_on_the_sessions_permission_thread_one_request_at_a_time_in_order(
    asker: SidecarManager,
) -> None:
    running = 0
    most = 0
    order: list[str] = []
    lock = threading.Lock()

    def callback(session_id: str, request: PermissionRequest) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            order.append(request.input["file_path"])
        threads.add(threading.current_thread().name)
        with lock:
            running -= 1
        return True

    threads: set[str] = set()
    recorder = Recorder()
    asker.start_session(
        "one", "asker", prompt(ask=[write(f"/f{i}") for i in range(5)]),
        on_permission=callback, on_message=recorder.on_message,
    )  # fmt: skip
    assert asker.wait("one", timeout=TIMEOUT).status == "idle"
    assert order == [f"/f{i}" for i in range(5)]
    assert [a["requestId"] for a in answers(recorder)] == [f"t1-{i}" for i in range(5)]
    assert most == 1
    assert threads == {"sidecar-permission-one"}
    assert "sidecar-permission-one" not in recorder.threads  # messages come on another thread


def test_a_slow_callback_does_not_stall_the_stream(asker: SidecarManager) -> None:
    """While the callback waits, the messages the runner writes after its request keep arriving."""
    recorder = Recorder()
    seen_between = threading.Event()

    def on_message(session_id: str, messages: list[Any]) -> None:
        recorder.on_message(session_id, messages)
        if any(m.type == "text" and m.content.text == "still streaming" for m in messages):
            seen_between.set()

    def callback(session_id: str, request: PermissionRequest) -> bool:
        # Were the callback on the stdout thread, this could never become true.
        return seen_between.wait(TIMEOUT)

    asker.start_session(
        "s", "asker", prompt(ask=[write()], between="still streaming"), on_permission=callback, on_message=on_message
    )
    assert asker.wait("s", timeout=TIMEOUT).status == "idle"
    assert answers(recorder)[0]["allow"] is True


@pytest.mark.parametrize("error", [ValueError("boom"), SystemExit(1), KeyboardInterrupt()])
def test_a_callback_that_raises_denies_and_is_logged(
    asker: SidecarManager, caplog: pytest.LogCaptureFixture, error: BaseException
) -> None:
    def callback(session_id: str, request: PermissionRequest) -> bool:
        raise error

    recorder = Recorder()
    with caplog.at_level(logging.ERROR, logger="sidecar_sync"):
        asker.start_session("s", "asker", prompt(ask=[write()]), on_permission=callback, on_message=recorder.on_message)
        assert asker.wait("s", timeout=TIMEOUT).status == "idle"
    [answer] = answers(recorder)
    assert answer["allow"] is False and "failed" in answer["message"]
    assert any("on_permission" in r.getMessage() and r.exc_info for r in caplog.records)


def test_permission_timeout_denies_and_the_late_answer_is_discarded(asker: SidecarManager) -> None:
    calls, recorder = Calls(True, block=True), Recorder()
    asker.start_session(
        "s", "asker", prompt(ask=[write()]), on_permission=calls, permission_timeout=0.2, on_message=recorder.on_message
    )
    state = asker.wait("s", timeout=TIMEOUT)  # the turn ends with the denial, the callback still running
    assert state.status == "idle", state.error
    assert not calls.returned.is_set()
    [answer] = answers(recorder)
    assert answer["allow"] is False and "0.2 s" in answer["message"]
    calls.release.set()
    assert calls.returned.wait(TIMEOUT)
    asker.write_prompt("s", prompt())  # a turn later, nothing more came from the late "allow"
    asker.wait("s", timeout=TIMEOUT)
    assert len(answers(recorder)) == 1


def test_a_stop_while_a_request_is_pending_denies_it_and_ends_the_turn(asker: SidecarManager) -> None:
    calls, recorder = Calls(True, block=True), Recorder()
    asker.start_session(
        "s", "asker", prompt(ask=[write()]), on_permission=calls,
        on_message=recorder.on_message, on_status=recorder.on_status,
    )  # fmt: skip
    calls.next_call()
    asker.stop_session("s")
    state = asker.wait("s", timeout=TIMEOUT)  # final, while the callback still waits
    assert state.status == "done" and not calls.returned.is_set()
    assert [t.outcome for t in state.turns] == ["cancelled"]
    assert all(not a["allow"] and "stopping" in a["message"] for a in answers(recorder))
    calls.release.set()
    assert calls.returned.wait(TIMEOUT)


def test_remove_session_with_a_callback_still_running_does_not_wait_for_it(asker: SidecarManager) -> None:
    calls = Calls(True, block=True)
    asker.start_session("s", "asker", prompt(ask=[write()]), on_permission=calls)
    calls.next_call()
    asker.remove_session("s")  # bounded: kill_grace + 1 s at most
    assert not calls.returned.is_set()
    calls.release.set()
    assert calls.returned.wait(TIMEOUT)


def test_shutdown_does_not_wait_for_a_stuck_callback_beyond_its_deadline(
    make_manager: Callable[..., SidecarManager], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager()
    manager.register_provider("asker", ASKER)
    calls = Calls(True, block=True)
    manager.start_session("s", "asker", prompt(ask=[write()]), on_permission=calls)
    calls.next_call()
    with caplog.at_level(logging.WARNING, logger="sidecar_sync"):
        manager.shutdown(timeout=1.0)
    assert not calls.returned.is_set()  # shutdown returned while the callback was stuck
    assert any("sidecar-permission-s" in r.getMessage() for r in caplog.records)
    calls.release.set()
    assert calls.returned.wait(TIMEOUT)


def test_the_callback_can_stop_its_own_session_but_not_wait_for_it(asker: SidecarManager) -> None:
    refused: list[BaseException] = []

    def callback(session_id: str, request: PermissionRequest) -> bool:
        try:
            asker.wait(session_id, timeout=TIMEOUT)
        except SidecarError as exc:
            refused.append(exc)
        asker.stop_session(session_id)
        return True

    recorder = Recorder()
    asker.start_session(
        "s", "asker", prompt(ask=[write()]), on_permission=callback,
        on_message=recorder.on_message, on_status=recorder.on_status,
    )  # fmt: skip
    recorder.wait_final()
    assert "deadlock" in str(refused[0])
    assert asker.get_session("s").status == "done"
    assert all(not a["allow"] for a in answers(recorder))  # stopping denied it before the callback's True


def test_withdrawn_and_left_over_requests_are_not_asked(asker: SidecarManager) -> None:
    recorder = Recorder()
    between = threading.Event()
    asked: list[str] = []

    def on_message(session_id: str, messages: list[Any]) -> None:
        recorder.on_message(session_id, messages)
        if any(m.type == "text" and m.content.text == "withdrawn" for m in messages):
            between.set()

    def callback(session_id: str, request: PermissionRequest) -> bool:
        asked.append(request.input["file_path"])
        # The runner withdraws /b after sending all three and before "withdrawn": hold /a until then.
        return between.wait(TIMEOUT)

    asker.start_session(
        "s", "asker", prompt(ask=[write("/a"), write("/b"), write("/c")], cancel=[1], between="withdrawn"),
        on_permission=callback, on_message=on_message,
    )  # fmt: skip
    assert asker.wait("s", timeout=TIMEOUT).status == "idle"
    assert asked == ["/a", "/c"]  # /b was withdrawn while queued: never asked, never answered
    assert [a["requestId"] for a in answers(recorder)] == ["t1-0", "t1-2"]
    # A turn that ends without waiting leaves its request behind: whether or not the callback
    # got to it, its answer is never sent (the runner would report it with the next turn's).
    gate, later = Calls(True, block=True), Recorder()
    asker.start_session(
        "t", "asker", prompt(ask=[write("/c")], end=True), on_permission=gate, on_message=later.on_message
    )
    assert asker.wait("t", timeout=TIMEOUT).status == "idle"
    gate.release.set()
    asker.write_prompt("t", prompt(ask=[write("/d")]))
    assert asker.wait("t", timeout=TIMEOUT).status == "idle"
    assert [a["requestId"] for a in answers(later)] == ["t2-0"]


def test_a_session_without_on_permission_denies_at_once(
    asker: SidecarManager, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="sidecar_sync"):
        asker.start_session("s", "asker", prompt(ask=[write()]), on_message=recorder.on_message)
        assert asker.wait("s", timeout=TIMEOUT).status == "idle"
    [answer] = answers(recorder)
    assert answer["allow"] is False and "no permission handler" in answer["message"]
    assert any("no on_permission" in r.getMessage() for r in caplog.records)


def test_malformed_requests_are_denied_when_they_can_be_answered(asker: SidecarManager) -> None:
    calls, recorder = Calls(True), Recorder()
    raw = [
        {"type": "permission_request", "toolName": "Write", "input": {}},  # no id: cannot be answered
        {"type": "permission_request", "requestId": "bad-1", "toolName": "Write", "input": "not an object"},
        {"type": "permission_cancel"},
    ]
    asker.start_session(
        "s", "asker", prompt(raw=raw, ask=[write()]), on_permission=calls, on_message=recorder.on_message
    )
    assert asker.wait("s", timeout=TIMEOUT).status == "idle"
    # the runner reports the two answers it got: the malformed one (denied) and its own (allowed)
    got = {a["requestId"]: a for a in answers(recorder)}
    assert got["t1-0"]["allow"] is True
    assert got["bad-1"]["allow"] is False and "Malformed" in got["bad-1"]["message"]
    assert calls.next_call()[1].tool_name == "Write" and calls.calls.empty()


def test_on_permission_sets_the_default_mode_and_tells_the_runner(asker: SidecarManager) -> None:
    recorder = Recorder()
    asker.start_session(
        "s", "asker", prompt(options=True), on_permission=lambda s, r: True, on_message=recorder.on_message
    )
    asker.wait("s", timeout=TIMEOUT)
    asker.start_session(
        "t", "asker", prompt(options=True), on_permission=lambda s, r: True, permission_mode="acceptEdits",
        on_message=recorder.on_message,
    )  # fmt: skip
    asker.wait("t", timeout=TIMEOUT)
    asker.start_session("u", "asker", prompt(options=True), on_message=recorder.on_message)
    asker.wait("u", timeout=TIMEOUT)
    reported = [m.content for m in recorder.of_type("unknown") if m.content.get("type") == "options"]
    assert [(r["permissionMode"], r["permissionPrompt"]) for r in reported] == [
        ("default", True), ("acceptEdits", True), ("bypassPermissions", None),
    ]  # fmt: skip


def test_idle_timeout_does_not_run_while_a_request_waits(asker: SidecarManager) -> None:
    """A person taking longer than idle_timeout to answer is not an idle runner."""

    def callback(session_id: str, request: PermissionRequest) -> bool:
        threading.Event().wait(4.5)  # the condition under test is time passing: 3 x idle_timeout
        return True

    # idle_timeout leaves room for a slow runner start on a loaded machine
    asker.start_session("s", "asker", prompt(ask=[write()]), on_permission=callback, idle_timeout=1.5)
    state = asker.wait("s", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    assert [t.outcome for t in state.turns] == ["success"]


@pytest.mark.parametrize("provider", ["echo", "codex", "ollama", "replay"])
def test_providers_without_an_approval_channel_refuse_on_permission_before_spawning(
    manager: SidecarManager, provider: str
) -> None:
    with pytest.raises(InvalidOptionError, match=f"on_permission cannot be used with provider '{provider}'"):
        manager.start_session("s", provider, "hi", on_permission=lambda s, r: True)
    assert manager.list_sessions() == []


def test_bad_permission_arguments_are_refused(manager: SidecarManager) -> None:
    with pytest.raises(InvalidOptionError, match="on_permission must be callable"):
        manager.start_session("s", "echo", "hi", on_permission="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="permission_timeout needs on_permission"):
        manager.start_session("s", "echo", "hi", permission_timeout=5)
    manager.register_provider("custom", scripted("good"))
    for bad in (0, -1, float("nan"), "5"):
        with pytest.raises(InvalidOptionError, match="permission_timeout"):
            manager.start_session(
                "s", "custom", "hi", on_permission=lambda s, r: True, permission_timeout=bad  # type: ignore[arg-type]
            )
    assert manager.list_sessions() == []
