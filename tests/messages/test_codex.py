"""The Codex adapter on real recordings of ``codex exec --json`` (Codex 0.169.0)."""

from __future__ import annotations

from typing import Any

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import (
    AgentMessage,
    ErrorContent,
    InitContent,
    StatusContent,
    TextContent,
    ToolCallContent,
)
from tests.messages.conftest import load_events


def adapt(*names: str) -> list[AgentMessage]:
    adapter = new_stream_adapter("codex")
    out: list[AgentMessage] = []
    for name in names:
        out += adapter.adapt_batch(load_events(f"codex/{name}"))
    return out


def types(messages: list[AgentMessage]) -> list[str]:
    return [m.type for m in messages]


def test_plain_turn() -> None:
    raw = load_events("codex/codex_plain.jsonl")
    messages = adapt("codex_plain.jsonl")
    assert types(messages) == ["init", "status", "text", "cost"]
    assert messages[0].content == InitContent(raw[0]["thread_id"])
    assert messages[1].content == StatusContent("turn_started", "Turn started")
    assert messages[2].content == TextContent("hi from fake openai (turn 1)")
    cost = messages[3].content
    assert (cost.input_tokens, cost.output_tokens, cost.total_cost_usd) == (20, 8, None)
    assert cost.usage == raw[3]["usage"]


def test_command_execution_is_one_call_and_its_result() -> None:
    """item.started + item.completed of a command: one Bash tool_call, then the tool_result."""
    raw = load_events("codex/codex_command.jsonl")
    messages = adapt("codex_command.jsonl")
    assert types(messages) == ["init", "status", "tool_call", "tool_result", "text", "cost"]
    call, result = messages[2].content, messages[3].content
    assert call == ToolCallContent("item_0", "Bash", {"command": "/bin/bash -lc 'echo hi'"})
    assert result.tool_use_id == "item_0"
    assert result.output == "hi\n"
    assert result.is_error is False
    assert result.structured == raw[3]["item"]
    assert result.structured["exit_code"] == 0


def test_resume_reports_per_turn_token_deltas() -> None:
    """usage is cumulative per thread (20, then 60 after resume): the stream adapter reports 20 then 40."""
    messages = adapt("codex_resume.jsonl", "codex_resume.resume.jsonl")
    costs = [m.content for m in messages if m.type == "cost"]
    assert [c.input_tokens for c in costs] == [20, 40]
    assert [c.output_tokens for c in costs] == [8, 16]
    assert sum(c.input_tokens for c in costs) == 60  # the thread's true total
    assert [c.usage["input_tokens"] for c in costs] == [20, 60]  # raw cumulative kept


def test_stateless_parse_reports_cumulative_usage() -> None:
    """parse_message has no memory: it reports usage as sent (documented)."""
    last = load_events("codex/codex_resume.resume.jsonl")[-1]
    (cost,) = parse_message("codex", last)
    assert (cost.content.input_tokens, cost.content.output_tokens) == (60, 24)


def test_api_error_gives_errors_then_turn_failed() -> None:
    raw = load_events("codex/codex_api_error_401.jsonl")
    messages = adapt("codex_api_error_401.jsonl")
    assert types(messages) == ["init", "status"] + ["error"] * 7
    assert messages[2].content.message.startswith("Reconnecting... 1/5")
    assert messages[-1].content == ErrorContent(raw[-1]["error"]["message"])


def test_error_item_before_turn() -> None:
    messages = adapt("codex_unknown_model.jsonl")
    assert types(messages) == ["init", "error", "status", "text", "cost"]
    assert messages[1].content.message.startswith("Model metadata for `gpt-fake` not found")


def test_sandbox_denied_shows_only_the_agent_message() -> None:
    assert types(adapt("codex_sandbox_denied.jsonl")) == ["init", "status", "text", "cost"]


def test_message_ids_are_unique_across_resume() -> None:
    """Codex item ids restart per process (item_0 again after resume); message ids do not."""
    messages = adapt("codex_resume.jsonl", "codex_resume.resume.jsonl", "codex_command.jsonl")
    assert len({m.id for m in messages}) == len(messages)


# -- real-shape items the recordings lack (tests/data/codex/shapes_items.jsonl; sources in tests/data/README.md)


def shapes() -> list[AgentMessage]:
    return adapt("shapes_items.jsonl")


def by_tool_use_id(messages: list[AgentMessage], tool_use_id: str) -> list[AgentMessage]:
    return [m for m in messages if m.type in ("tool_call", "tool_result") and m.content.tool_use_id == tool_use_id]


def test_reasoning_is_thinking() -> None:
    thinking = [m for m in shapes() if m.type == "thinking"]
    assert [m.content.text.splitlines()[0] for m in thinking] == ["**Planning the change**"]


def test_mcp_tool_call_success_and_failure() -> None:
    messages = shapes()
    call, result = by_tool_use_id(messages, "item_1")
    assert call.content == ToolCallContent("item_1", "docs:search", {"query": "ndjson framing"})
    assert result.content.output == [{"type": "text", "text": "NDJSON: one JSON value per line."}]
    assert result.content.structured == {"hits": 1}
    assert result.content.is_error is False
    call, result = by_tool_use_id(messages, "item_2")
    assert call.content.name == "docs:fetch"
    assert (result.content.output, result.content.is_error) == ("connection refused", True)


def test_web_search_waits_for_its_query() -> None:
    """Started with an empty query: the tool_call comes at completion, with the query and action."""
    call, result = by_tool_use_id(shapes(), "item_3")
    assert call.content.name == "WebSearch"
    assert call.content.input == {"query": "ndjson spec", "action": {"type": "search", "query": "ndjson spec"}}
    assert result.type == "tool_result" and result.content.output is None


def test_todo_list_updates_are_statuses() -> None:
    todos = [m.content for m in shapes() if m.type == "status" and m.content.subtype == "todo_list"]
    assert [t.message for t in todos] == ["To-do list: 0/2 done", "To-do list: 1/2 done", "To-do list: 2/2 done"]
    assert todos[-1].data["items"][1] == {"text": "Write the test", "completed": True}


def test_failed_command_is_an_error_result_and_update_adds_nothing() -> None:
    call, result = by_tool_use_id(shapes(), "item_5")
    assert call.type == "tool_call" and result.type == "tool_result"
    assert result.content.is_error is True
    assert result.content.structured["exit_code"] == 3


def test_file_change_gives_a_call_and_result_per_change() -> None:
    messages = shapes()
    pairs = [by_tool_use_id(messages, f"item_6:{n}") for n in range(3)]
    assert [p[0].content.name for p in pairs] == ["Write", "Edit", "Delete"]
    assert [p[1].content.output.split()[0] for p in pairs] == ["added", "updated", "deleted"]
    assert pairs[0][0].content.input == {"file_path": "/home/dev/project-root/work/tests/test_new.py", "kind": "add"}


def test_whole_turn_order_and_cached_tokens() -> None:
    messages = shapes()
    assert [m.type for m in messages][:3] == ["init", "status", "thinking"]
    assert messages[-2].content == TextContent("Done: added the test and updated the README.")
    cost = messages[-1].content
    assert (cost.input_tokens, cost.cached_input_tokens, cost.output_tokens) == (1200, 200, 345)


def test_stateless_parse_emits_tool_calls_on_start_and_completion() -> None:
    events = load_events("codex/codex_command.jsonl")
    calls = [m for e in events for m in parse_message("codex", e) if m.type == "tool_call"]
    assert [c.content.tool_use_id for c in calls] == ["item_0", "item_0"]


def test_usage_counter_going_down_starts_a_new_base() -> None:
    adapter = new_stream_adapter("codex")

    def usage(n: int) -> dict[str, Any]:
        return {"type": "turn.completed", "usage": {"input_tokens": n, "output_tokens": n // 5}}

    costs = [(m.content.input_tokens, m.content.output_tokens) for n in (50, 80, 10) for m in adapter.adapt(usage(n))]
    assert costs == [(50, 10), (30, 6), (10, 2)]  # input and output apart, each its own delta


def test_usage_is_tracked_per_thread() -> None:
    adapter = new_stream_adapter("codex")
    events: list[dict[str, Any]] = [
        {"type": "thread.started", "thread_id": "a"},
        {"type": "turn.completed", "usage": {"input_tokens": 10, "output_tokens": 3}},
        {"type": "thread.started", "thread_id": "b"},
        {"type": "turn.completed", "usage": {"input_tokens": 7, "output_tokens": 2}},
        {"type": "thread.started", "thread_id": "a"},
        {"type": "turn.completed", "usage": {"input_tokens": 25, "output_tokens": 8}},
    ]
    costs = [(m.content.input_tokens, m.content.output_tokens) for m in adapter.adapt_batch(events) if m.type == "cost"]
    assert costs == [(10, 3), (7, 2), (15, 5)]
