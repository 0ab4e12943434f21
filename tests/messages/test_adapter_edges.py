"""Adapter edges mutation testing found unchecked, each compared by value.

The Claude bare-string reply's parent, Codex's ``item.updated`` in stateless parsing and
web searches without a query, stateless ``auto`` mapping like the provider it detects,
an Ollama reply cut short by an error, and a Claude result's numbers field by field.
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import (
    AgentMessage,
    ErrorContent,
    TextContent,
    ToolCallContent,
    ToolResultContent,
)
from tests.messages.conftest import load_events

# -- claude: an assistant line whose content is a bare string (the API allows it) -----------


@pytest.mark.parametrize(
    ("parent", "want"),
    [("toolu_agent1", "toolu_agent1"), ("", None), (5, None), (None, None)],
)
def test_a_bare_string_reply_keeps_its_parent(parent: Any, want: str | None) -> None:
    event = {"type": "assistant", "uuid": "u-1", "parent_tool_use_id": parent, "message": {"content": "hi"}}
    for messages in (parse_message("claude", event), new_stream_adapter("claude").adapt(event)):
        assert [(m.id, m.type, m.content, m.parent_id) for m in messages] == [("u-1", "text", TextContent("hi"), want)]


# -- codex: item.updated, and web searches --------------------------------------------------


def tool_items() -> list[dict[str, Any]]:
    return [
        {"id": "c1", "type": "command_execution", "command": "ls", "aggregated_output": "", "status": "in_progress"},
        {"id": "m1", "type": "mcp_tool_call", "server": "s", "tool": "t", "arguments": {}, "status": "in_progress"},
        {"id": "w1", "type": "web_search", "query": "q"},
    ]


@pytest.mark.parametrize("item", tool_items(), ids=lambda item: item["type"])
def test_stateless_parsing_announces_a_call_on_start_not_on_update(item: dict[str, Any]) -> None:
    assert [m.type for m in parse_message("codex", {"type": "item.started", "item": item})] == ["tool_call"]
    assert parse_message("codex", {"type": "item.updated", "item": item}) == []


def test_a_web_search_without_a_query_is_announced_when_it_completes() -> None:
    item = {"id": "w2", "type": "web_search", "query": ""}
    for messages in (
        parse_message("codex", {"type": "item.completed", "item": item}),
        new_stream_adapter("codex").adapt_batch(
            [{"type": "item.started", "item": item}, {"type": "item.completed", "item": item}]
        ),
    ):
        assert [(m.type, m.content) for m in messages] == [
            ("tool_call", ToolCallContent("w2", "WebSearch", {"query": ""})),
            ("tool_result", ToolResultContent("w2", None, False, item)),
        ]


def test_a_web_search_without_an_id_is_announced_once_per_event_seen() -> None:
    # no id to remember it by: the stream adapter cannot tell a second event of it apart
    item = {"type": "web_search", "query": "q"}
    messages = new_stream_adapter("codex").adapt_batch(
        [{"type": "item.started", "item": item}, {"type": "item.completed", "item": item}]
    )
    assert [m.type for m in messages] == ["tool_call", "tool_call", "tool_result"]


def test_a_web_search_with_an_id_is_announced_once() -> None:
    item = {"id": "w3", "type": "web_search", "query": "q"}
    events = [{"type": t, "item": item} for t in ("item.started", "item.updated", "item.completed")]
    assert [m.type for m in new_stream_adapter("codex").adapt_batch(events)] == ["tool_call", "tool_result"]


# -- auto: stateless, event by event ------------------------------------------------------


def without_ids(messages: list[AgentMessage]) -> list[tuple[str, Any, str | None]]:
    return [(m.type, m.content, m.parent_id) for m in messages]


@pytest.mark.parametrize(
    ("path", "provider"),
    [
        ("claude/claude_tool_bash.jsonl", "claude"),
        ("codex/codex_command.jsonl", "codex"),
        ("ollama/shapes_tools_thinking.jsonl", "ollama"),
    ],
)
def test_stateless_auto_maps_each_event_like_its_provider(path: str, provider: str) -> None:
    events = load_events(path)
    auto = [without_ids(parse_message("auto", event)) for event in events]
    assert auto == [without_ids(parse_message(provider, event)) for event in events]
    assert any(m[0] not in ("unknown", "init") for per_event in auto for m in per_event)


# -- ollama: an error ends the reply ----------------------------------------------------------


def chunk(text: str, *, done: bool = False) -> dict[str, Any]:
    return {"type": "chunk", "message": {"role": "assistant", "content": text}, "done": done}


def test_after_an_error_the_next_reply_is_a_new_one_with_its_own_id() -> None:
    events = [chunk("Hel"), chunk("lo"), {"type": "error", "message": "cut"}, chunk("Again"), chunk("", done=True)]
    messages = new_stream_adapter("ollama").adapt_batch(events)
    assert {type(m.timestamp) for m in messages} == {int}
    texts = [(m.content.text, m.content.delta, m.content.message_id) for m in messages if m.type == "text"]
    assert [(text, delta) for text, delta, _ in texts] == [
        ("Hel", True),
        ("lo", True),
        ("Hello", False),  # what came before the error, assembled
        ("Again", True),
        ("Again", False),
    ]
    first, second = texts[0][2], texts[3][2]
    assert type(first) is str and first and type(second) is str and second
    assert [t[2] for t in texts] == [first, first, first, second, second] and first != second
    assert [m.type for m in messages].index("error") == 3
    assert messages[-1].type == "cost" and messages[-1].content.result == "Again"  # not "HelloAgain"


def test_ollama_thinking_is_assembled_per_reply_with_the_replys_id() -> None:
    def thinking(text: str) -> dict[str, Any]:
        return {"type": "chunk", "message": {"role": "assistant", "thinking": text}, "done": False}

    adapter = new_stream_adapter("ollama")
    replies = [adapter.adapt_batch([thinking("a"), thinking("b"), chunk("", done=True)]) for _ in range(2)]
    whole = []
    for messages in replies:
        assert all(type(m.id) is str and m.id and type(m.timestamp) is int for m in messages)
        deltas = [m.content for m in messages if m.type == "thinking" and m.content.delta]
        (assembled,) = [m.content for m in messages if m.type == "thinking" and not m.content.delta]
        assert (assembled.text, assembled.delta) == ("ab", False)
        assert type(assembled.message_id) is str and {d.message_id for d in deltas} == {assembled.message_id}
        whole.append(assembled)
    assert whole[0].message_id != whole[1].message_id


# -- claude: a result's errors and numbers ----------------------------------------------------


def test_a_results_errors_are_strings_whatever_they_were() -> None:
    event = {"type": "result", "subtype": "error_during_execution", "is_error": True, "errors": ["lost", 5, None]}
    cost, error = parse_message("claude", event)
    assert cost.content.errors == ["lost", "5", "None"]
    assert error.content.message == "lost; 5; None"


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        # whole floats are whole numbers; other values are 0 (tokens) or unknown (None)
        (
            {
                "usage": {"input_tokens": 5.0, "output_tokens": 7.0, "cache_read_input_tokens": 3.0},
                "duration_ms": 1500.0,
            },
            {"input_tokens": 5, "output_tokens": 7, "cached_input_tokens": 3, "duration_ms": 1500},
        ),
        (
            {"usage": {"input_tokens": "5", "output_tokens": None, "cache_read_input_tokens": "3"}, "duration_ms": "9"},
            {"input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0, "duration_ms": None},
        ),
        ({"usage": "none", "num_turns": 2.0}, {"input_tokens": 0, "output_tokens": 0, "usage": None, "num_turns": 2}),
        ({"num_turns": "2", "duration_ms": True}, {"num_turns": None, "duration_ms": None}),
        # a cost: an int is a float; anything else is unknown, and counted unless absent
        ({"total_cost_usd": 2}, {"total_cost_usd": 2.0, "unusable_values": 0}),
        ({"total_cost_usd": None}, {"total_cost_usd": None, "unusable_values": 0}),
        ({"total_cost_usd": "0.5"}, {"total_cost_usd": None, "unusable_values": 1}),
    ],
)
def test_a_results_numbers_are_whole_or_unknown(fields: dict[str, Any], want: dict[str, Any]) -> None:
    """Each number of a result line, field by field, with its type: what is not a number is no number."""
    (cost,) = parse_message("claude", {"type": "result", "subtype": "success", "uuid": "r-1", **fields})
    got = {name: getattr(cost.content, name) for name in want}
    assert got == want
    assert [type(value) for value in got.values()] == [type(value) for value in want.values()]


@pytest.mark.parametrize(
    ("fields", "failed", "want"),
    [
        ({"subtype": "success"}, False, {}),
        ({"subtype": 5, "terminal_reason": 5, "result": 5}, False, {"subtype": None, "terminal_reason": None}),
        (
            {"terminal_reason": "", "api_error_status": "529"},
            False,
            {"terminal_reason": None, "api_error_status": None},
        ),
        ({"subtype": "error_max_turns"}, True, {"subtype": "error_max_turns"}),  # is_error absent
        ({"subtype": "success", "api_error_status": 529}, True, {"api_error_status": 529}),
        ({"subtype": "success", "api_error_status": 529.0}, True, {"api_error_status": 529}),
        ({"subtype": "success", "terminal_reason": "api_error"}, True, {"terminal_reason": "api_error"}),
        ({"subtype": "success", "terminal_reason": "completed"}, False, {"terminal_reason": "completed"}),
    ],
)
def test_a_result_failed_by_its_subtype_status_or_terminal_reason(
    fields: dict[str, Any], failed: bool, want: dict[str, Any]
) -> None:
    """API errors say ``subtype: "success"``: the status and the terminal reason fail the turn too."""
    messages = parse_message("claude", {"type": "result", "uuid": "r-1", **fields})
    assert [m.type for m in messages] == (["cost", "error"] if failed else ["cost"])
    content = messages[0].content
    assert content.is_error is failed and content.result is None
    assert {name: getattr(content, name) for name in want} == want


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"is_error": True}, "turn failed (error)"),
        ({"subtype": "error_max_turns"}, "turn failed (error_max_turns)"),
        ({"subtype": "error_max_turns", "terminal_reason": "max_turns"}, "turn failed (max_turns)"),
        ({"is_error": True, "errors": ["", "lost"], "subtype": "x"}, "lost"),
        ({"is_error": True, "errors": [""], "result": ""}, "turn failed (error)"),
    ],
)
def test_a_failed_results_error_text_without_a_result(fields: dict[str, Any], text: str) -> None:
    """The errors that say something, else what ended the turn: its terminal reason, subtype, or "error"."""
    cost, error = parse_message("claude", {"type": "result", "uuid": "r-1", **fields})
    assert (error.id, error.type, error.content) == ("r-1-error", "error", ErrorContent(text))


# -- auto: an error line before the provider is known -------------------------------------


@pytest.mark.parametrize(
    ("event", "text"),
    [
        ({"type": "error", "message": "no such model"}, "no such model"),
        ({"type": "error", "message": ""}, "error"),
        ({"type": "error", "message": 3}, "error"),
        ({"type": "error"}, "error"),
    ],
)
def test_an_error_before_detection_keeps_its_message_or_says_error(event: dict[str, Any], text: str) -> None:
    auto = new_stream_adapter("auto")
    for messages in (auto.adapt(event), parse_message("auto", event)):
        assert [(m.type, m.content) for m in messages] == [("error", ErrorContent(text))]
    assert auto.detected is None  # type: ignore[attr-defined]


def test_codex_usage_before_a_thread_and_in_a_thread_without_an_id_is_one_total() -> None:
    def usage(tokens_in: int) -> dict[str, Any]:
        return {"type": "turn.completed", "usage": {"input_tokens": tokens_in, "output_tokens": 1}}

    events = [usage(10), {"type": "thread.started"}, usage(15)]
    costs = [m.content for m in new_stream_adapter("codex").adapt_batch(events) if m.type == "cost"]
    assert [(c.input_tokens, c.output_tokens) for c in costs] == [(10, 1), (5, 0)]


def test_ollama_empty_or_odd_thinking_is_no_message() -> None:
    event = {"type": "chunk", "message": {"role": "assistant", "thinking": "", "content": "x"}, "done": False}
    assert [m.type for m in new_stream_adapter("ollama").adapt(event)] == ["text"]
    event = {"type": "chunk", "message": {"role": "assistant", "thinking": 5}, "done": False}
    assert new_stream_adapter("ollama").adapt(event) == []


def test_ollama_duration_is_whole_milliseconds_of_eval_duration() -> None:
    for nanoseconds, milliseconds in [(7_000_000_000, 7000), (7_000_999_999, 7000), (999_999, 0)]:
        (cost,) = parse_message("ollama", {"type": "chunk", "done": True, "eval_duration": nanoseconds})
        assert cost.content.duration_ms == milliseconds
