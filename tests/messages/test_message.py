"""AgentMessage and the content classes: the to_dict shape, slots, odd top-level values."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import (
    MESSAGE_TYPES,
    AgentMessage,
    CompactionContent,
    CostContent,
    ErrorContent,
    InitContent,
    StatusContent,
    TextContent,
    ThinkingContent,
    ToolCallContent,
    ToolResultContent,
)

#: The documented ``content`` keys of AgentMessage.to_dict, per message type.
CONTENT_KEYS = {
    "init": (InitContent(None), {"session_id", "model", "cwd", "tools", "agent_version"}),
    "text": (TextContent("t"), {"text", "delta", "message_id", "index"}),
    "thinking": (ThinkingContent("t"), {"text", "delta", "message_id", "index"}),
    "tool_call": (ToolCallContent("id", "Bash", {}), {"tool_use_id", "name", "input"}),
    "tool_result": (ToolResultContent("id"), {"tool_use_id", "output", "is_error", "structured"}),
    "status": (StatusContent("s", "m"), {"subtype", "message", "data"}),
    "compaction": (CompactionContent("auto", 1), {"trigger", "pre_tokens"}),
    "cost": (
        CostContent(),
        {
            "total_cost_usd", "duration_ms", "input_tokens", "output_tokens", "cached_input_tokens", "num_turns",
            "is_error", "result", "errors", "subtype", "terminal_reason", "api_error_status", "usage",
            "unusable_values",
        },
    ),
    "error": (ErrorContent("e"), {"message"}),
}


@pytest.mark.parametrize("kind", sorted(CONTENT_KEYS))
def test_to_dict_shape(kind: str) -> None:
    content, keys = CONTENT_KEYS[kind]
    message = AgentMessage("id-1", kind, content, "parent", 123)
    data = message.to_dict()
    assert data == {"id": "id-1", "type": kind, "parent_id": "parent", "timestamp": 123, "content": data["content"]}
    assert set(data["content"]) == keys
    # the dataclass fields and the dict keys agree: nothing left out of --json output
    assert keys == {f.name for f in dataclasses.fields(content)}
    assert orjson.loads(orjson.dumps(data)) == data


def test_every_type_has_a_content_class() -> None:
    assert set(CONTENT_KEYS) | {"unknown"} == MESSAGE_TYPES


@pytest.mark.parametrize("cls", [AgentMessage] + [content.__class__ for content, _ in CONTENT_KEYS.values()])
def test_classes_are_slotted(cls: type) -> None:
    assert "__slots__" in cls.__dict__
    instance = AgentMessage("i", "text", None, None, 0) if cls is AgentMessage else CONTENT_KEYS_BY_CLASS[cls]
    assert not hasattr(instance, "__dict__")


CONTENT_KEYS_BY_CLASS = {content.__class__: content for content, _ in CONTENT_KEYS.values()}


def test_unknown_keeps_odd_values_as_they_are() -> None:
    """A stream adapter handed non-dict values (a list, a number, null) keeps them as unknown."""
    for provider in ("claude", "codex", "ollama", "auto"):
        values = [[1, 2], 3.5, None, "text", {"no": "type"}, {"type": ["unhashable"]}]
        messages = new_stream_adapter(provider).adapt_batch(values)
        assert [m.type for m in messages] == ["unknown"] * len(values)
        assert [m.content for m in messages] == values
        assert len({m.id for m in messages}) == len(values)
        for value in values:
            (message,) = parse_message(provider, value)  # type: ignore[arg-type]
            assert message.type == "unknown" and message.content == value


def test_timestamps_are_milliseconds_and_shared_by_a_batch() -> None:
    import time

    before = time.time_ns() // 1_000_000
    events = [{"type": "thread.started", "thread_id": "t"}, {"type": "turn.started"}]
    messages = new_stream_adapter("codex").adapt_batch(events)
    after = time.time_ns() // 1_000_000
    assert {m.timestamp for m in messages} == {messages[0].timestamp}
    assert before <= messages[0].timestamp <= after


def test_unknown_message_id_uses_the_event_uuid() -> None:
    (message,) = parse_message("claude", {"type": "rate_limit_event", "uuid": "u-1"})
    assert message.id == "u-1"
