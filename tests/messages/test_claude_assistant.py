"""The Claude adapter's ``assistant`` lines, block by block, whole messages compared.

What mutation testing found unchecked: ids past the eighth block of one line, the
server and MCP tool calls, odd fields of each block kind (a text, name or id that is
not a string), the parent on every kind of block, blocks of no known kind passed on
whole, and a line without a content list.
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import AgentMessage, TextContent, ThinkingContent, ToolCallContent


def both(event: dict[str, Any]) -> list[list[AgentMessage]]:
    """The event through the stream adapter and through parse_message."""
    return [new_stream_adapter("claude").adapt(event), parse_message("claude", event)]


BLOCKS: list[tuple[Any, str, str, Any]] = [
    # block, the id's suffix, the message type, the content
    ({"type": "text", "text": "first"}, "text-0", "text", TextContent("first")),
    ({"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}, "tool_call-1", "tool_call",
     ToolCallContent("toolu_1", "Bash", {"command": "ls"})),
    ({"type": "server_tool_use", "id": 5, "name": 7}, "tool_call-2", "tool_call", ToolCallContent(None, "")),
    ({"type": "mcp_tool_use", "id": "mcp_3", "name": "mcp__docs__search", "input": {}}, "tool_call-3", "tool_call",
     ToolCallContent("mcp_3", "mcp__docs__search", {})),
    ({"type": "thinking", "thinking": "hm"}, "thinking-4", "thinking", ThinkingContent("hm")),
    ({"type": "thinking", "thinking": 5}, "thinking-5", "thinking", ThinkingContent("")),
    ({"type": "image", "source": {}}, "unknown-6", "unknown", {"type": "image", "source": {}}),
    ({"type": "text", "text": None}, "text-7", "text", TextContent("")),
    ({"type": "text", "text": "ninth"}, "text-8", "text", TextContent("ninth")),
    ({"type": "tool_use", "id": "toolu_9", "name": "Read"}, "tool_call-9", "tool_call",
     ToolCallContent("toolu_9", "Read")),
    ("a bare string block", "unknown-10", "unknown", "a bare string block"),
]  # fmt: skip


@pytest.mark.parametrize(("parent", "want"), [("toolu_agent", "toolu_agent"), ("", None), (7, None), (None, None)])
def test_every_block_of_a_long_line_is_one_message_with_its_id_and_parent(parent: Any, want: str | None) -> None:
    """Eleven blocks: ids ``<uuid>-<type>-<n>`` past the eighth too, and the line's parent on each."""
    event = {
        "type": "assistant",
        "uuid": "a-1",
        "parent_tool_use_id": parent,
        "message": {"id": "msg_1", "content": [block for block, *_ in BLOCKS]},
    }
    for messages in both(event):
        assert [(m.id, m.type, m.content, m.parent_id) for m in messages] == [
            (f"a-1-{suffix}", kind, content, want) for _, suffix, kind, content in BLOCKS
        ]


def test_the_ninth_tool_call_of_a_line_has_its_id() -> None:
    calls = [{"type": "tool_use", "id": f"toolu_{n}", "name": "Read", "input": {"n": n}} for n in range(9)]
    event = {"type": "assistant", "uuid": "a-1", "message": {"content": calls}}
    for messages in both(event):
        assert [(m.id, m.content) for m in messages] == [
            (f"a-1-tool_call-{n}", ToolCallContent(f"toolu_{n}", "Read", {"n": n})) for n in range(9)
        ]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "assistant", "uuid": "a-2"},
        {"type": "assistant", "uuid": "a-2", "message": "not an object"},
        {"type": "assistant", "uuid": "a-2", "message": {"content": None}},
        {"type": "assistant", "uuid": "a-2", "message": {"content": {"type": "text"}}},
    ],
)
def test_a_line_without_a_content_list_is_passed_on_whole(event: dict[str, Any]) -> None:
    for messages in both(event):
        assert [(m.id, m.type, m.content) for m in messages] == [("a-2", "unknown", event)]
