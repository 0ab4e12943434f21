"""The Codex adapter event by event, whole messages compared: what mutation testing found unchecked.

Hand-written events in the shapes of ``codex exec --json`` (tests/data/README.md names
the sources); each test compares every field of the messages, not only their types.
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_sync.adapters import new_stream_adapter
from sidecar_sync.messages import (
    AgentMessage,
    CostContent,
    ErrorContent,
    InitContent,
    StatusContent,
    TextContent,
    ToolCallContent,
    ToolResultContent,
)
from tests.messages.conftest import load_events


def adapt(*events: dict[str, Any]) -> list[AgentMessage]:
    return new_stream_adapter("codex").adapt_batch(list(events))


def contents(messages: list[AgentMessage]) -> list[tuple[str, Any]]:
    return [(m.type, m.content) for m in messages]


def completed(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "item.completed", "item": item}


@pytest.mark.parametrize(
    "name", ["codex_plain.jsonl", "codex_command.jsonl", "codex_api_error_401.jsonl", "shapes_items.jsonl"]
)
def test_every_message_has_its_own_id_and_the_batchs_timestamp(name: str) -> None:
    messages = new_stream_adapter("codex").adapt_batch(load_events(f"codex/{name}"))
    assert messages
    assert all(type(m.id) is str and m.id for m in messages)
    assert len({m.id for m in messages}) == len(messages)
    assert {type(m.timestamp) for m in messages} == {int}
    assert len({m.timestamp for m in messages}) == 1  # one adapt_batch call, one clock reading
    assert all(m.parent_id is None for m in messages)


def test_thread_started_names_the_thread_and_agent_version() -> None:
    (init,) = adapt({"type": "thread.started", "thread_id": "t-1", "agent_version": "codex-cli 0.169.0"})
    assert init.content == InitContent("t-1", agent_version="codex-cli 0.169.0")


def test_token_deltas_per_counter_and_an_unchanged_total_is_zero() -> None:
    def usage(tokens_in: int, cached: int, tokens_out: int) -> dict[str, Any]:
        counts = {"input_tokens": tokens_in, "cached_input_tokens": cached, "output_tokens": tokens_out}
        return {"type": "turn.completed", "usage": counts}

    messages = adapt(usage(10, 4, 30), usage(10, 4, 30), usage(15, 6, 35))
    assert [(c.input_tokens, c.cached_input_tokens, c.output_tokens) for _, c in contents(messages)] == [
        (10, 4, 30),
        (0, 0, 0),  # nothing new: no turn is counted twice
        (5, 2, 5),  # each counter against its own previous total
    ]
    assert messages[2].content.usage == usage(15, 6, 35)["usage"]  # the raw cumulative object kept


def test_turn_completed_without_usage_reports_zero_tokens_and_no_usage() -> None:
    (cost,) = adapt({"type": "turn.completed"})
    assert cost.content == CostContent(input_tokens=0, output_tokens=0, cached_input_tokens=0, usage=None)


@pytest.mark.parametrize(
    ("event", "text"),
    [
        ({"type": "turn.failed", "error": {"message": "quota exceeded"}}, "quota exceeded"),
        ({"type": "turn.failed", "error": "stream closed"}, "stream closed"),
        ({"type": "turn.failed", "error": {"message": ""}}, "turn failed"),
        ({"type": "turn.failed"}, "turn failed"),
        ({"type": "error", "message": "reconnecting"}, "reconnecting"),
        ({"type": "error", "message": 5}, "error"),
        (completed({"id": "i", "type": "error", "message": "bad item"}), "bad item"),
        (completed({"id": "i", "type": "error"}), "error"),
    ],
)
def test_failures_keep_their_message_or_say_what_failed(event: dict[str, Any], text: str) -> None:
    assert contents(adapt(event)) == [("error", ErrorContent(text))]


COMMAND_OUTCOMES = [
    ("completed", 0, False),
    ("completed", 2, True),
    ("failed", 0, True),
    ("declined", None, True),
    ("completed", None, False),
    ("in_progress", "1", False),
]


@pytest.mark.parametrize(("status", "exit_code", "failed"), COMMAND_OUTCOMES)
def test_command_result_failed_by_status_or_exit_code(status: str, exit_code: object, failed: bool) -> None:
    item: dict[str, Any] = {"id": "c1", "type": "command_execution", "command": "ls", "aggregated_output": "out"}
    item |= {"status": status, "exit_code": exit_code}
    assert contents(adapt(completed(item))) == [
        ("tool_call", ToolCallContent("c1", "Bash", {"command": "ls"})),
        ("tool_result", ToolResultContent("c1", "out", failed, item)),
    ]


def test_file_changes_one_call_and_result_each_with_their_tool_and_verb() -> None:
    changes: list[Any] = [
        {"path": "a.py", "kind": "add"},
        {"path": "b.py", "kind": "update"},
        {"path": "c.py", "kind": "delete"},
        {"path": "d.py", "kind": "rename"},
        {"path": "e.py"},
        {"path": "f.py", "kind": ""},
    ]
    expected = [
        ("Write", "add", "added a.py"),
        ("Edit", "update", "updated b.py"),
        ("Delete", "delete", "deleted c.py"),
        ("Edit", "rename", "rename d.py"),  # a kind nobody listed: an edit, named as it came
        ("Edit", "update", "updated e.py"),  # no kind: an update
        ("Edit", "", "changed f.py"),
    ]
    messages = adapt(completed({"type": "file_change", "changes": changes, "status": "completed"}))
    want: list[tuple[str, Any]] = []
    for n, ((tool, kind, output), change) in enumerate(zip(expected, changes, strict=True)):
        path = change["path"]
        want.append(("tool_call", ToolCallContent(f"file_change:{n}", tool, {"file_path": path, "kind": kind})))
        want.append(("tool_result", ToolResultContent(f"file_change:{n}", output, False, change)))
    assert contents(messages) == want


def test_a_failed_file_change_says_so() -> None:
    change = {"path": "a.py", "kind": "add"}
    messages = adapt(completed({"id": "fc", "type": "file_change", "changes": [change], "status": "failed"}))
    assert contents(messages)[1] == ("tool_result", ToolResultContent("fc:0", "failed: added a.py", True, change))


def test_mcp_results_and_errors() -> None:
    base = {"id": "m1", "type": "mcp_tool_call", "server": "docs", "tool": "find", "arguments": {"q": 1}}
    result = {"content": ["hit"], "structured_content": {"n": 1}}
    ok = adapt(completed({**base, "result": result, "status": "completed"}))
    assert contents(ok) == [
        ("tool_call", ToolCallContent("m1", "docs:find", {"q": 1})),
        ("tool_result", ToolResultContent("m1", ["hit"], False, {"n": 1})),
    ]
    failed = adapt(completed({**base, "result": None, "error": {"message": "no server"}}))
    assert contents(failed)[1] == ("tool_result", ToolResultContent("m1", "no server", True, None))
    odd = adapt(completed({**base, "result": None, "error": "not an object"}))
    assert contents(odd)[1] == ("tool_result", ToolResultContent("m1", None, False, None))


def test_web_search_call_waits_for_a_query_and_the_result_keeps_the_item() -> None:
    started = {"type": "item.started", "item": {"id": "w1", "type": "web_search", "query": ""}}
    done_item = {"id": "w1", "type": "web_search", "query": "mutation testing", "action": {"type": "search"}}
    messages = adapt(started, completed(done_item))
    assert contents(messages) == [
        ("tool_call", ToolCallContent("w1", "WebSearch", {"query": "mutation testing", "action": {"type": "search"}})),
        ("tool_result", ToolResultContent("w1", None, False, done_item)),
    ]


def test_todo_list_counts_and_plan_is_text() -> None:
    todo = {"id": "t", "type": "todo_list", "items": [{"text": "a", "completed": True}, {"text": "b"}]}
    assert contents(adapt(completed(todo))) == [("status", StatusContent("todo_list", "To-do list: 1/2 done", todo))]
    odd = {"id": "t", "type": "todo_list", "items": "none"}
    assert contents(adapt(completed(odd))) == [("status", StatusContent("todo_list", "To-do list: 0/0 done", odd))]
    assert contents(adapt(completed({"id": "p", "type": "plan", "text": "1. do it"}))) == [
        ("text", TextContent("1. do it"))
    ]


@pytest.mark.parametrize(
    "event",
    [
        completed({"id": "x", "type": "brand_new_item"}),
        completed({"id": "x", "type": 7}),
        {"type": "item.completed", "item": "x"},
    ],
)
def test_items_nobody_knows_are_unknown_messages_holding_the_event(event: dict[str, Any]) -> None:
    (message,) = adapt(event)
    assert (message.type, message.content) == ("unknown", event)
