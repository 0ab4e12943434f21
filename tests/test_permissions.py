"""Tool approval in process: the wire pair, the pipeline's routing, decisions, and the permission thread.

The :class:`PermissionDesk` tests drive a desk directly with a recording sender (no
runner, no session): every wait is bounded, and each test says what it observes
rather than sleeping for it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from sidecar_sync import Allow, Deny, PermissionRequest
from sidecar_sync.adapters import new_stream_adapter
from sidecar_sync.permissions import DEFAULT_DENY_MESSAGE, PermissionDesk, decide, request_from_wire, response_line
from sidecar_sync.pipeline import PermissionSignal, Pipeline, TurnSignal
from sidecar_sync.protocol import (
    CONTROL_TYPES,
    PERMISSION_CANCEL,
    PERMISSION_REQUEST,
    PermissionWireError,
    encode,
    permission_cancel_line,
    permission_request_line,
    permission_response_command,
    read_permission_cancel,
    read_permission_request,
    read_permission_response,
)

TIMEOUT = 10.0


# -- the wire pair ------------------------------------------------------------------------


def test_request_line_round_trip() -> None:
    """Optional keys are omitted when unset, and the reader gives back what the builder took."""
    line = permission_request_line("r1", "Write", {"file_path": "/x"})
    assert line == {"type": "permission_request", "requestId": "r1", "toolName": "Write", "input": {"file_path": "/x"}}
    full = permission_request_line(
        "r2", "Bash", {"command": "ls"}, tool_use_id="toolu_1", suggestions=[{"type": "setMode"}], raw={"a": 1}
    )
    ask = read_permission_request(orjson.loads(encode(full)))
    assert ask == ("r2", "Bash", {"command": "ls"}, "toolu_1", [{"type": "setMode"}], {"a": 1})


def test_response_command_round_trip() -> None:
    allow = permission_response_command("r1", allow=True)
    assert allow == {"type": "permission_response", "requestId": "r1", "behavior": "allow"}
    assert read_permission_response(allow) == ("r1", True, None, None)
    changed = permission_response_command("r1", allow=True, updated_input={"content": "new"})
    assert read_permission_response(changed).updated_input == {"content": "new"}
    deny = permission_response_command("r2", allow=False, message="no writes")
    assert deny == {"type": "permission_response", "requestId": "r2", "behavior": "deny", "message": "no writes"}
    assert read_permission_response(deny) == ("r2", False, None, "no writes")
    assert read_permission_cancel(permission_cancel_line("r3")) == "r3"


@pytest.mark.parametrize(
    ("line", "request_id"),
    [
        ({"type": "permission_request"}, None),
        ({"type": "permission_request", "requestId": 7, "toolName": "W", "input": {}}, None),
        ({"type": "permission_request", "requestId": "r", "input": {}}, "r"),
        ({"type": "permission_request", "requestId": "r", "toolName": "W", "input": "x"}, "r"),
    ],
)
def test_a_malformed_request_says_whether_it_can_be_answered(line: dict[str, Any], request_id: str | None) -> None:
    with pytest.raises(PermissionWireError) as caught:
        read_permission_request(line)
    assert caught.value.request_id == request_id


@pytest.mark.parametrize(
    "command",
    [
        {"type": "permission_response"},
        {"type": "permission_response", "requestId": "r", "behavior": "maybe"},
        {"type": "permission_response", "requestId": "r", "behavior": "allow", "updatedInput": [1]},
        {"type": "permission_response", "requestId": "r", "behavior": "deny", "message": 3},
    ],
)
def test_a_malformed_response_is_refused(command: dict[str, Any]) -> None:
    with pytest.raises(PermissionWireError):
        read_permission_response(command)


def test_the_permission_lines_are_protocol_lines() -> None:
    assert {PERMISSION_REQUEST, PERMISSION_CANCEL} <= CONTROL_TYPES


# -- the pipeline -------------------------------------------------------------------------


def _lines(*objects: dict[str, Any]) -> bytes:
    return b"".join(encode(o) for o in objects)


def test_the_pipeline_hands_out_permission_lines_after_the_messages_before_them() -> None:
    """The tool call comes out before the request about it, and the line itself is not a message."""
    tool_use = {
        "type": "assistant",
        "message": {"id": "m", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Write", "input": {}}]},
    }
    request = permission_request_line("r1", "Write", {}, tool_use_id="toolu_1")
    cancel = permission_cancel_line("r1")
    pipeline = Pipeline(new_stream_adapter("claude"), label="test")
    started, stopped = {"type": "agent_started"}, {"type": "agent_stopped"}
    data = _lines(started, {"type": "agent_event", "event": tool_use}, request, cancel, stopped)
    outputs = list(pipeline.receive_data(data))

    kinds = [type(o).__name__ if type(o) is not tuple else "batch" for o in outputs]
    assert kinds == ["TurnSignal", "batch", "PermissionSignal", "PermissionSignal", "TurnSignal"]
    messages = outputs[1][0]
    assert isinstance(messages, list) and [m.type for m in messages] == ["tool_call"]
    assert outputs[2] == PermissionSignal(PERMISSION_REQUEST, request)
    assert outputs[3] == PermissionSignal(PERMISSION_CANCEL, cancel)
    assert isinstance(outputs[4], TurnSignal)
    assert pipeline.stats.control_lines == 4
    assert pipeline.stats.messages == 1


def test_request_from_wire_keeps_the_runners_raw_or_the_line() -> None:
    line = permission_request_line("r1", "Write", {"a": 1}, raw={"agent": "said"})
    assert request_from_wire(line) == ("r1", PermissionRequest("Write", {"a": 1}, None, None, {"agent": "said"}))
    bare = permission_request_line("r2", "Read", {})
    assert request_from_wire(bare)[1].raw == bare


# -- decisions ----------------------------------------------------------------------------


class Unserialisable:
    pass


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (True, Allow()),
        (False, Deny()),
        (Allow(), Allow()),
        (Allow({"content": "x"}), Allow({"content": "x"})),
        (Deny("no"), Deny("no")),
        (Deny(""), Deny(DEFAULT_DENY_MESSAGE)),
        (None, Deny()),
        ("yes", Deny()),
        (1, Deny()),
        (Allow([1, 2]), "deny"),  # type: ignore[arg-type]
        (Allow({"x": Unserialisable()}), "deny"),
    ],
)
def test_decide_turns_anything_unusable_into_a_denial(result: object, expected: object) -> None:
    decision = decide(result, "test")
    if expected == "deny":
        assert isinstance(decision, Deny)
    else:
        assert decision == expected


def test_response_line_carries_the_decision() -> None:
    assert orjson.loads(response_line("r", Allow())) == {
        "type": "permission_response", "requestId": "r", "behavior": "allow",
    }  # fmt: skip
    assert orjson.loads(response_line("r", Allow({"k": 1})))["updatedInput"] == {"k": 1}
    assert orjson.loads(response_line("r", Deny("why")))["message"] == "why"


# -- the permission thread ----------------------------------------------------------------


class Sent:
    """A recording sender: the answers the desk wrote, in order, with the timeout each got."""

    def __init__(self) -> None:
        self.lines: queue.Queue[tuple[dict[str, Any], float]] = queue.Queue()

    def __call__(self, line: bytes, timeout: float) -> None:
        self.lines.put((orjson.loads(line), timeout))

    def next(self) -> dict[str, Any]:
        return self.lines.get(timeout=TIMEOUT)[0]

    def empty(self) -> bool:
        return self.lines.empty()


class Gate:
    """A callback that records each call and blocks until released (bounded)."""

    def __init__(self, decision: object = True) -> None:
        self.calls: queue.Queue[tuple[str, PermissionRequest, str]] = queue.Queue()
        self.release = threading.Event()
        self.decision = decision
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, session_id: str, request: PermissionRequest) -> object:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.calls.put((session_id, request, threading.current_thread().name))
        try:
            assert self.release.wait(TIMEOUT), "the test never released the callback"
            return self.decision
        finally:
            with self._lock:
                self.running -= 1

    def next_call(self) -> tuple[str, PermissionRequest, str]:
        return self.calls.get(timeout=TIMEOUT)


def _request(tool: str = "Write", **tool_input: Any) -> PermissionRequest:
    return PermissionRequest(tool, dict(tool_input))


@pytest.fixture
def desks() -> Iterator[Callable[..., PermissionDesk]]:
    """Desks that are closed and joined at teardown (the test releases its callbacks first)."""
    made: list[PermissionDesk] = []

    def make(callback: Any, send: Sent, **kwargs: Any) -> PermissionDesk:
        desk = PermissionDesk("s1", callback, send, **kwargs)
        desk.start()
        made.append(desk)
        return desk

    yield make
    for desk in made:
        desk.close("test over")
        assert desk.join(TIMEOUT), f"{desk.thread.name} outlived its test"


def test_requests_are_asked_one_at_a_time_in_order_on_the_desks_thread(desks: Callable[..., PermissionDesk]) -> None:
    gate, sent = Gate(), Sent()
    desk = desks(gate, sent, thread_name="sidecar-permission-s1")
    for i in range(3):
        desk.submit(f"r{i}", _request(path=str(i)))
    session_id, first, thread = gate.next_call()
    assert (session_id, first.input, thread) == ("s1", {"path": "0"}, "sidecar-permission-s1")
    assert desk.pending == 3
    gate.release.set()
    order = [first.input["path"], gate.next_call()[1].input["path"], gate.next_call()[1].input["path"]]
    assert order == ["0", "1", "2"]
    assert [sent.next()["requestId"] for _ in range(3)] == ["r0", "r1", "r2"]
    assert gate.most_at_once == 1


def test_a_callback_that_raises_anything_denies_and_is_logged(
    desks: Callable[..., PermissionDesk], caplog: pytest.LogCaptureFixture
) -> None:
    raised: list[BaseException] = [ValueError("bad"), SystemExit(3), KeyboardInterrupt()]

    def callback(session_id: str, request: PermissionRequest) -> bool:
        raise raised.pop(0)

    sent = Sent()
    desk = desks(callback, sent)
    with caplog.at_level(logging.ERROR, logger="sidecar_sync.permissions"):
        for i in range(3):
            desk.submit(f"r{i}", _request())
        answers = [sent.next() for _ in range(3)]
    assert [a["behavior"] for a in answers] == ["deny"] * 3
    assert all("failed" in a["message"] for a in answers)
    assert "bad" not in answers[0]["message"]  # the exception text stays in the log, not the model's context
    logged = [r for r in caplog.records if "raised; denied" in r.getMessage()]
    assert len(logged) == 3 and all(r.exc_info for r in logged)
    assert desk.thread.is_alive()  # it goes on asking


def test_timeout_denies_the_running_and_the_queued_requests_and_discards_the_late_answer(
    desks: Callable[..., PermissionDesk], caplog: pytest.LogCaptureFixture
) -> None:
    gate, sent = Gate(decision=True), Sent()
    woken = threading.Event()
    desk = desks(gate, sent, timeout=30.0, on_deadline=woken.set)
    desk.submit("r0", _request())
    desk.submit("r1", _request())
    assert woken.is_set()  # whoever enforces deadlines was told to look again
    gate.next_call()
    deadline = desk.deadline()
    assert deadline is not None

    desk.expire(deadline - 1.0)  # not yet
    assert sent.empty()
    desk.expire(deadline + 0.001)  # both expired (r1 arrived later, its deadline may be later too)
    desk.expire(deadline + 60.0)
    answers = [sent.next(), sent.next()]
    assert [a["requestId"] for a in answers] == ["r0", "r1"]
    assert all(a["behavior"] == "deny" and "timeout" in a["message"] for a in answers)
    assert desk.pending == 0 and desk.deadline() is None
    with caplog.at_level(logging.INFO, logger="sidecar_sync.permissions"):
        gate.release.set()
        desk.close("done")
        assert desk.join(TIMEOUT)
    assert sent.empty()  # the callback's late "allow" was never sent
    assert any("discarding Allow" in r.getMessage() for r in caplog.records)
    assert gate.calls.empty()  # r1 expired in the queue: never asked


def test_close_denies_what_is_pending_at_once_and_every_later_request(desks: Callable[..., PermissionDesk]) -> None:
    gate, sent = Gate(), Sent()
    desk = desks(gate, sent)
    desk.submit("r0", _request())
    desk.submit("r1", _request())
    gate.next_call()

    desk.close("the session is stopping")  # returns while the callback is still running
    assert gate.running == 1
    answers = {a["requestId"]: a for a in (sent.next(), sent.next())}
    assert set(answers) == {"r0", "r1"}
    assert all(a["behavior"] == "deny" and "stopping" in a["message"] for a in answers.values())
    desk.submit("r2", _request())
    assert sent.next() == {**answers["r0"], "requestId": "r2"}
    gate.release.set()
    assert desk.join(TIMEOUT)
    assert sent.empty()  # nothing more: the late answer was discarded


def test_a_withdrawn_request_is_never_asked_or_answered(desks: Callable[..., PermissionDesk]) -> None:
    gate, sent = Gate(), Sent()
    desk = desks(gate, sent)
    desk.submit("r0", _request())
    desk.submit("r1", _request())
    desk.submit("r2", _request())
    gate.next_call()
    assert desk.cancel("r1")  # queued: never asked
    assert desk.cancel("r0")  # being asked: its answer is not sent
    assert not desk.cancel("r9")
    gate.release.set()
    _, request, _ = gate.next_call()
    assert sent.next()["requestId"] == "r2"
    assert gate.calls.empty() and sent.empty()


def test_the_end_of_a_turn_withdraws_what_it_left(desks: Callable[..., PermissionDesk]) -> None:
    gate, sent = Gate(), Sent()
    desk = desks(gate, sent)
    desk.submit("r0", _request())
    desk.submit("r1", _request())
    gate.next_call()
    assert desk.withdraw_all() == 2
    assert desk.pending == 0
    desk.submit("r2", _request())  # the next turn's request is asked as usual
    gate.release.set()
    assert sent.next()["requestId"] == "r2"
    assert sent.empty()


def test_the_callback_may_close_its_own_desk(desks: Callable[..., PermissionDesk]) -> None:
    """A callback that stops its session (which closes the desk) does not deadlock."""
    sent = Sent()
    holder: list[PermissionDesk] = []

    def callback(session_id: str, request: PermissionRequest) -> bool:
        holder[0].close("stopped from the callback")
        return True

    desk = desks(callback, sent)
    holder.append(desk)
    desk.submit("r0", _request())
    assert sent.next()["behavior"] == "deny"
    assert desk.join(TIMEOUT)
    assert sent.empty()
