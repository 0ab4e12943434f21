"""The Ollama adapter over whole replies, every message compared by value.

What mutation testing found unchecked: the ids and timestamps of each message kind, the
fragments' reply id, tool-call ids, the cost's fields (duration, turns, result, usage),
an error chunk mid-reply, the system lines' texts, and odd values in each field.
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import (
    AgentMessage,
    CostContent,
    ErrorContent,
    InitContent,
    StatusContent,
    TextContent,
    ThinkingContent,
    ToolCallContent,
)


def chunk(**message: Any) -> dict[str, Any]:
    return {"type": "chunk", "message": {"role": "assistant", **message}, "done": False}


DONE = {
    "type": "chunk",
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "done_reason": "stop",
    "prompt_eval_count": 12,
    "eval_count": 5,
    "eval_duration": 2_999_999_999,
    "total_duration": 4_000_000_000,
    "model": "not kept in usage",
}


USAGE_KEYS = ("prompt_eval_count", "eval_count", "eval_duration", "total_duration")  # "model" is not one


def check_envelopes(messages: list[AgentMessage]) -> None:
    assert all(type(m.id) is str and m.id for m in messages)
    assert len({m.id for m in messages}) == len(messages)
    assert all(type(m.timestamp) is int and m.timestamp > 0 for m in messages)
    assert all(m.parent_id is None for m in messages)


def test_a_reply_with_thinking_text_a_tool_call_and_its_cost() -> None:
    call = {"id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    events = [
        chunk(thinking="Weather, "),
        chunk(thinking="so a tool."),
        chunk(content="Checking"),
        chunk(content="", tool_calls=[call, {"function": {"name": 3}}, "odd"]),
        chunk(content=" done."),
        DONE,
    ]
    messages = new_stream_adapter("ollama").adapt_batch(events)
    check_envelopes(messages)
    reply = messages[0].content.message_id
    assert type(reply) is str and reply
    assert [(m.type, m.content) for m in messages] == [
        ("thinking", ThinkingContent("Weather, ", True, reply)),
        ("thinking", ThinkingContent("so a tool.", True, reply)),
        ("text", TextContent("Checking", True, reply)),
        ("thinking", ThinkingContent("Weather, so a tool.", False, reply)),  # assembled before the calls
        ("text", TextContent("Checking", False, reply)),
        ("tool_call", ToolCallContent("call_1", "get_weather", {"city": "Oslo"})),
        ("tool_call", ToolCallContent(None, "", None)),
        ("tool_call", ToolCallContent(None, "", None)),
        ("text", TextContent(" done.", True, reply)),
        ("text", TextContent(" done.", False, reply)),
        (
            "cost",
            CostContent(
                duration_ms=2999,
                input_tokens=12,
                output_tokens=5,
                num_turns=1,
                is_error=False,
                result="Checking done.",
                terminal_reason="stop",
                usage={key: DONE[key] for key in USAGE_KEYS},
            ),
        ),
    ]


def test_the_next_reply_starts_afresh() -> None:
    adapter = new_stream_adapter("ollama")
    first = adapter.adapt_batch([chunk(content="one"), DONE])
    second = adapter.adapt_batch([chunk(content="two"), DONE])
    assert first[-1].content.result == "one" and second[-1].content.result == "two"
    assert first[0].content.message_id != second[0].content.message_id
    assert type(second[0].content.message_id) is str and second[0].content.message_id


def test_a_done_chunk_alone_has_no_result_and_no_duration() -> None:
    (cost,) = new_stream_adapter("ollama").adapt_batch([{"type": "chunk", "done": True, "eval_duration": "x"}])
    usage = {"eval_duration": "x"}  # kept as it came; only the duration ignores it
    assert cost.content == CostContent(duration_ms=None, input_tokens=0, output_tokens=0, num_turns=1, usage=usage)
    assert type(cost.id) is str and type(cost.timestamp) is int


def test_an_error_chunk_mid_reply_closes_it_first() -> None:
    events = [chunk(content="Par"), {"type": "chunk", "error": "model crashed"}, chunk(content="Again")]
    messages = new_stream_adapter("ollama").adapt_batch(events)
    check_envelopes(messages)
    first, second = messages[0].content.message_id, messages[3].content.message_id
    assert [(m.type, m.content) for m in messages] == [
        ("text", TextContent("Par", True, first)),
        ("text", TextContent("Par", False, first)),
        ("error", ErrorContent("model crashed")),
        ("text", TextContent("Again", True, second)),
    ]
    assert first != second


def test_stateless_parsing_gives_fragments_without_a_reply_id() -> None:
    assert [(m.type, m.content) for m in parse_message("ollama", chunk(thinking="a", content="b"))] == [
        ("thinking", ThinkingContent("a", True, None)),
        ("text", TextContent("b", True, None)),
    ]
    (cost,) = parse_message("ollama", DONE)
    assert cost.content.result is None and cost.content.duration_ms == 2999


@pytest.mark.parametrize(
    ("event", "kind", "content"),
    [
        (
            {
                "type": "system",
                "subtype": "init",
                "session_id": "s-1",
                "model": "llama3.2",
                "cwd": "/w",
                "tools": ["a", 3],
                "agent_version": "ollama 0.5",
            },
            "init",
            InitContent("s-1", "llama3.2", "/w", ["a"], "ollama 0.5"),
        ),
        ({"type": "system", "subtype": "init", "session_id": 5}, "init", InitContent(None, None, None, [], None)),
        ({"type": "system", "subtype": "model_loading", "message": "Loading llama3.2"}, "status", None),
        ({"type": "system", "subtype": "model_loading"}, "status", None),
        ({"type": "system", "subtype": "model_loading", "message": 4}, "status", None),
        ({"type": "error", "message": "pull failed"}, "error", ErrorContent("pull failed")),
        ({"type": "error", "message": ""}, "error", ErrorContent("error")),
        ({"type": "error"}, "error", ErrorContent("error")),
    ],
)
def test_system_and_error_lines(event: dict[str, Any], kind: str, content: Any) -> None:
    if kind == "status":
        message = event.get("message")
        text = message if type(message) is str and message else "model loading"
        content = StatusContent("model_loading", text, event)
    for messages in (new_stream_adapter("ollama").adapt(event), parse_message("ollama", event)):
        check_envelopes(messages)
        assert [(m.type, m.content) for m in messages] == [(kind, content)]


@pytest.mark.parametrize("subtype", [None, "", 3])
def test_a_system_line_without_a_subtype_is_unknown(subtype: Any) -> None:
    event = {"type": "system", "subtype": subtype}
    assert [(m.type, m.content) for m in parse_message("ollama", event)] == [("unknown", event)]
