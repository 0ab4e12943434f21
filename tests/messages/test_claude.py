"""The Claude Code adapter on real recordings of ``claude -p --output-format stream-json --verbose``."""

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
    ToolCallContent,
    ToolResultContent,
)
from tests.messages.conftest import load_events


def adapt(name: str) -> list[AgentMessage]:
    return new_stream_adapter("claude").adapt_batch(load_events(f"claude/{name}"))


def types(messages: list[AgentMessage]) -> list[str]:
    return [m.type for m in messages]


def test_plain_turn_maps_init_text_cost() -> None:
    """A plain turn gives init, the assistant text and the cost of the result line."""
    raw = load_events("claude/claude_plain.jsonl")
    messages = adapt("claude_plain.jsonl")
    assert types(messages) == ["init", "text", "cost"]
    init, text, cost = messages
    assert init.id == raw[0]["uuid"]
    assert init.content == InitContent(
        raw[0]["session_id"],
        "claude-opus-5-5",
        raw[0]["cwd"],
        raw[0]["tools"],
        "Claude Code " + raw[0]["claude_code_version"],
    )
    assert "Bash" in init.content.tools
    assert text.id == f"{raw[1]['uuid']}-text-0"
    assert text.content == TextContent(raw[1]["message"]["content"][0]["text"])
    assert text.parent_id is None
    assert cost.id == raw[2]["uuid"]
    content = cost.content
    assert isinstance(content, CostContent)
    assert content.total_cost_usd == raw[2]["total_cost_usd"]
    assert content.duration_ms == raw[2]["duration_ms"]
    assert (content.input_tokens, content.output_tokens) == (
        raw[2]["usage"]["input_tokens"],
        raw[2]["usage"]["output_tokens"],
    )
    assert content.num_turns == 1
    assert content.is_error is False
    assert content.result == raw[2]["result"]
    assert content.subtype == "success" and content.terminal_reason == "completed"


def test_older_cli_version_has_the_same_mapping() -> None:
    """Claude Code 2.1.197 (fewer keys) maps the same way."""
    assert types(adapt("claude_plain_v2.1.197.jsonl")) == ["init", "text", "cost"]


def test_tool_turn_keeps_input_output_and_structured_result() -> None:
    """A Bash tool call: tool_use input, tool_result string output, tool_use_result kept as structured."""
    raw = load_events("claude/claude_tool_bash.jsonl")
    messages = adapt("claude_tool_bash.jsonl")
    assert types(messages) == ["init", "tool_call", "tool_result", "text", "cost"]
    call, result = messages[1], messages[2]
    block = raw[1]["message"]["content"][0]
    assert call.id == f"{raw[1]['uuid']}-tool_call-0"
    assert call.content == ToolCallContent(block["id"], "Bash", block["input"])
    assert result.id == f"{raw[2]['uuid']}-tool_result-0"
    assert result.content == ToolResultContent(block["id"], "hi", False, raw[2]["tool_use_result"])
    assert result.content.structured["stdout"] == "hi"
    assert messages[4].content.num_turns == 2


def test_read_tool_structured_output() -> None:
    """Read's tool_use_result (``{type: "text", file: {...}}``) stays available to UIs."""
    raw = load_events("claude/claude_tool_read.jsonl")
    result = adapt("claude_tool_read.jsonl")[2]
    assert result.type == "tool_result"
    assert result.content.structured == raw[2]["tool_use_result"]
    assert result.content.structured["type"] == "text"


@pytest.mark.parametrize("name", ["claude_api_error_500.jsonl", "claude_noauth.jsonl"])
def test_api_error_result_says_success_but_is_an_error(name: str) -> None:
    """``subtype: "success"`` with ``is_error: true``: the cost says is_error and an error message follows."""
    raw = load_events(f"claude/{name}")
    messages = adapt(name)
    assert types(messages)[-2:] == ["cost", "error"]
    result = raw[-1]
    assert result["subtype"] == "success" and result["is_error"] is True
    cost, error = messages[-2:]
    assert cost.content.is_error is True
    assert cost.content.terminal_reason == "api_error"
    assert error.id == f"{result['uuid']}-error"
    assert error.content == ErrorContent(result["result"])


def test_api_error_status_is_kept() -> None:
    cost = adapt("claude_api_error_500.jsonl")[-2]
    assert cost.content.api_error_status == 500


def test_api_retry_is_a_readable_status() -> None:
    """system/api_retry (attempt, max_retries, retry_delay_ms, error_status, error) -> status text."""
    status = adapt("claude_api_error_500.jsonl")[1]
    assert status.type == "status"
    assert status.content.subtype == "api_retry"
    assert status.content.message == "API error 500 (server_error); retry 1/1 in 0.6 s"
    assert status.content.data["retry_delay_ms"] == 558


def test_stream_input_mode_turns_and_control_response() -> None:
    """Long-lived stream-json input: one init per turn; control_response is unknown, kept raw."""
    raw = load_events("claude/claude_stream_input.jsonl")
    messages = adapt("claude_stream_input.jsonl")
    assert types(messages) == ["unknown", "init", "text", "cost", "init", "tool_call", "tool_result", "text", "cost"]
    assert messages[0].content == raw[0]
    # total_cost_usd is cumulative over the session, usage is per turn
    first, second = messages[3].content, messages[8].content
    assert second.total_cost_usd > first.total_cost_usd
    assert (first.input_tokens, second.input_tokens) == (12, 24)


def test_partial_messages_give_text_deltas_then_the_full_block() -> None:
    """stream_event text_delta -> text with delta=True; the assistant line still gives the full text."""
    raw = load_events("claude/claude_partial_messages.jsonl")
    messages = adapt("claude_partial_messages.jsonl")
    texts = [m for m in messages if m.type == "text"]
    deltas = [m for m in texts if m.content.delta]
    full = [m for m in texts if not m.content.delta]
    assert "".join(m.content.text for m in deltas) == "Tool said: hi"
    assert [m.content.text for m in full] == ["Tool said: hi"]
    api_id = raw[-2]["api_message_id"]
    assert {m.content.message_id for m in deltas} == {api_id}
    assert {m.content.index for m in deltas} == {0}
    # every delta carries its line's uuid, so ids stay unique
    assert len({m.id for m in messages}) == len(messages)
    # system/status (requesting) is a readable status
    statuses = [m for m in messages if m.type == "status"]
    assert [s.content.message for s in statuses] == ["Requesting a model response"] * 2
    # the other stream events are kept raw as unknown
    unknown = [m for m in messages if m.type == "unknown"]
    assert {m.content["event"]["type"] for m in unknown} >= {"message_start", "content_block_start", "message_stop"}


def test_stateless_parse_matches_the_stream_adapter() -> None:
    """Claude needs no per-stream state: parse_message gives the same messages (but its own timestamps)."""
    for event in load_events("claude/claude_tool_bash.jsonl"):
        one = parse_message("claude", event)
        other = new_stream_adapter("claude").adapt(event)
        assert [(m.id, m.type, m.content, m.parent_id) for m in one] == [
            (m.id, m.type, m.content, m.parent_id) for m in other
        ]


def test_to_dict_is_json_ready() -> None:
    import orjson

    for message in adapt("claude_tool_bash.jsonl"):
        data = message.to_dict()
        assert orjson.loads(orjson.dumps(data)) == data
        assert set(data) == {"id", "type", "parent_id", "timestamp", "content"}


def test_status_content_is_typed() -> None:
    """An api_retry line is a StatusContent with its subtype, a readable line and the event itself."""
    raw = load_events("claude/claude_api_error_500.jsonl")
    status = adapt("claude_api_error_500.jsonl")[1]
    assert status.type == "status" and status.id == raw[1]["uuid"]
    assert isinstance(status.content, StatusContent)
    assert status.content == StatusContent(
        "api_retry", "API error 500 (server_error); retry 1/1 in 0.6 s", raw[1]
    )


# -- real-shape events the recordings lack (tests/data/claude/shapes_extra.jsonl; sources in tests/data/README.md)


def shapes() -> list[AgentMessage]:
    return adapt("shapes_extra.jsonl")


def test_compact_boundary_and_compacting_status() -> None:
    """SDKStatusMessage 'compacting' -> status; SDKCompactBoundaryMessage -> compaction."""
    raw = load_events("claude/shapes_extra.jsonl")
    compacting, boundary, ready = shapes()[:3]
    assert compacting.content.message == "Compacting the conversation"
    assert boundary.type == "compaction"
    assert boundary.id == raw[1]["uuid"]
    assert (boundary.content.trigger, boundary.content.pre_tokens) == ("auto", 167482)
    assert ready.content.message == "Ready"


def test_thinking_block() -> None:
    raw = load_events("claude/shapes_extra.jsonl")
    thinking = shapes()[3]
    assert thinking.type == "thinking"
    assert thinking.id == f"{raw[3]['uuid']}-thinking-0"
    assert thinking.content.text.startswith("The user wants a file created")


def test_permission_denied_then_error_tool_result_with_block_list() -> None:
    messages = shapes()
    denied, result = messages[5], messages[6]
    assert denied.type == "status"
    assert denied.content.subtype == "permission_denied"
    assert denied.content.message.startswith("Permission denied: Bash: Claude requested permissions")
    assert result.type == "tool_result"
    assert result.content.is_error is True
    assert result.content.output == [
        {"type": "text", "text": "Claude requested permissions to use Bash, but you haven't granted it yet."}
    ]
    assert result.content.tool_use_id == "toolu_fake_touch0001"


def test_sub_agent_message_has_parent_id() -> None:
    sub = shapes()[7]
    assert sub.type == "text" and sub.parent_id == "toolu_fake_agent0001"


def _sub_agent_tool_result() -> dict[str, Any]:
    """The recorded Bash tool_result line, as a sub-agent's (``parent_tool_use_id`` set)."""
    event = load_events("claude/claude_tool_bash.jsonl")[2]
    assert event["type"] == "user" and event["parent_tool_use_id"] is None
    return {**event, "parent_tool_use_id": "toolu_fake_agent0001"}


def test_sub_agent_tool_result_has_parent_id() -> None:
    """A sub-agent's tool_result keeps its parent, in the stream adapter and in parse_message."""
    event = _sub_agent_tool_result()
    for messages in (new_stream_adapter("claude").adapt(event), parse_message("claude", event)):
        assert [(m.type, m.parent_id) for m in messages] == [("tool_result", "toolu_fake_agent0001")]
        assert messages[0].content.tool_use_id == event["message"]["content"][0]["tool_use_id"]


def test_top_level_tool_result_has_no_parent_id() -> None:
    """The main agent's tool_result (``parent_tool_use_id: null``) has none, nor has an empty id."""
    event = load_events("claude/claude_tool_bash.jsonl")[2]
    assert [m.parent_id for m in parse_message("claude", event)] == [None]
    odd = {**event, "parent_tool_use_id": ""}
    assert [m.parent_id for m in parse_message("claude", odd)] == [None]


def test_thinking_delta() -> None:
    delta = shapes()[8]
    assert delta.type == "thinking"
    assert (delta.content.text, delta.content.delta, delta.content.index) == ("Let me check", True, 0)
    assert delta.content.message_id == "msg_01ThinkBlock"


def test_interrupted_turn() -> None:
    """The interrupt's user text line stays raw; error_during_execution gives cost + error."""
    messages = shapes()
    interrupted = messages[9]
    assert interrupted.type == "unknown"
    assert interrupted.content["message"]["content"][0]["text"] == "[Request interrupted by user]"
    cost, error = messages[10], messages[11]
    assert cost.content.is_error is True and cost.content.subtype == "error_during_execution"
    assert error.content.message == "turn failed (aborted_streaming)"


def test_max_turns_result_uses_the_errors_list() -> None:
    cost, error = shapes()[-2:]
    assert cost.content.subtype == "error_max_turns"
    assert cost.content.cached_input_tokens == 120
    assert error.content.message == "Reached maximum number of turns (3)"


def test_resume_keeps_the_session_and_reports_the_running_cost() -> None:
    """``claude -p --resume``: same session id; total_cost_usd includes the first run, usage is this turn's."""
    first = adapt("claude_resume.jsonl")
    second = adapt("claude_resume.resume.jsonl")
    assert [m.type for m in second] == ["init", "tool_call", "tool_result", "text", "cost"]
    assert first[0].content.session_id == second[0].content.session_id
    assert second[-1].content.total_cost_usd > first[-1].content.total_cost_usd
    assert (first[-1].content.input_tokens, second[-1].content.input_tokens) == (12, 24)


def test_fast_built_stream_messages_equal_constructed_ones() -> None:
    """The stream_event handler builds its objects slot by slot (speed); they must be exactly
    what the constructors make, every field set, so a field added to a dataclass cannot be
    left unset there."""
    import dataclasses

    from sidecar_sync.messages import ThinkingContent

    for message in adapt("claude_partial_messages.jsonl"):
        objects: list[Any] = [message]
        if dataclasses.is_dataclass(message.content):
            objects.append(message.content)
        for obj in objects:
            values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # AttributeError if unset
            assert type(obj)(**values) == obj
    delta = {"type": "content_block_delta", "index": 2, "delta": {"type": "thinking_delta", "thinking": "hm"}}
    thinking = {"type": "stream_event", "uuid": "u1", "parent_tool_use_id": "toolu_1", "api_message_id": "msg_1",
                "event": delta}  # fmt: skip
    (message,) = new_stream_adapter("claude").adapt(thinking)
    expected = AgentMessage("u1", "thinking", ThinkingContent("hm", True, "msg_1", 2), "toolu_1", message.timestamp)
    assert message == expected
