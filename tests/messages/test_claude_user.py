"""The Claude adapter's ``user`` lines (tool results) and partial-message deltas, whole messages compared.

What mutation testing found unchecked: ids past the eighth result of one line, the
parent on every result, the structured ``tool_use_result`` only for a line with one
block, a line's other blocks passed on whole, and the fields of a streamed text delta.
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import AgentMessage, TextContent, ToolResultContent


def both(event: dict[str, Any]) -> list[list[AgentMessage]]:
    """The event through the stream adapter and through parse_message."""
    return [new_stream_adapter("claude").adapt(event), parse_message("claude", event)]


def result_block(n: int) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": f"toolu_{n}", "content": f"out {n}", "is_error": n == 3}


def test_nine_results_and_a_text_block_keep_ids_parent_and_the_whole_line() -> None:
    blocks = [result_block(n) for n in range(9)] + [{"type": "text", "text": "and a remark"}]
    event = {
        "type": "user",
        "uuid": "u-7",
        "parent_tool_use_id": "toolu_agent",
        "message": {"role": "user", "content": blocks},
        "tool_use_result": {"stdout": "not used: the line has ten blocks"},
    }
    for messages in both(event):
        assert [(m.id, m.type, m.content, m.parent_id) for m in messages] == [
            (f"u-7-tool_result-{n}", "tool_result", ToolResultContent(f"toolu_{n}", f"out {n}", n == 3), "toolu_agent")
            for n in range(9)
        ] + [("u-7-unknown", "unknown", event, None)]  # the whole line, as it came
        assert {type(m.timestamp) for m in messages} == {int}


def test_without_a_uuid_the_results_share_one_new_base_id() -> None:
    event = {"type": "user", "message": {"content": [result_block(0), result_block(1), "odd block"]}}
    for messages in both(event):
        first, second, rest = messages
        base = first.id.removesuffix("-tool_result-0")
        assert base and first.id == f"{base}-tool_result-0" and second.id == f"{base}-tool_result-1"
        assert (rest.id, rest.type, rest.content) == (f"{base}-unknown", "unknown", event)


@pytest.mark.parametrize(("parent", "want"), [("toolu_a", "toolu_a"), ("", None), (7, None), (None, None)])
def test_a_single_result_keeps_the_structured_result_and_its_parent(parent: Any, want: str | None) -> None:
    structured = {"stdout": "hi", "stderr": "", "interrupted": False}
    block = {"type": "tool_result", "tool_use_id": 5, "content": [{"type": "text", "text": "hi"}]}
    event = {"type": "user", "uuid": "u-1", "parent_tool_use_id": parent, "message": {"content": [block]},
             "tool_use_result": structured}  # fmt: skip
    for messages in both(event):
        assert [(m.id, m.type, m.content, m.parent_id) for m in messages] == [
            ("u-1-tool_result-0", "tool_result", ToolResultContent(None, block["content"], False, structured), want)
        ]


@pytest.mark.parametrize("content", [None, "text", [], {"a": 1}])
def test_a_user_line_without_blocks_is_unknown(content: Any) -> None:
    event = {"type": "user", "uuid": "u-2", "message": {"content": content}}
    for messages in both(event):
        assert [(m.id, m.type, m.content) for m in messages] == [("u-2", "unknown", event)]
        assert type(messages[0].timestamp) is int


def test_a_line_of_only_other_blocks_is_unknown_with_the_lines_uuid() -> None:
    event = {"type": "user", "uuid": "u-3", "message": {"content": [{"type": "text", "text": "typed by a human"}]}}
    for messages in both(event):
        assert [(m.id, m.type, m.content) for m in messages] == [("u-3", "unknown", event)]


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        ({"uuid": "u-9", "parent_tool_use_id": "toolu_p", "api_message_id": "msg_2"}, ("u-9", "toolu_p", "msg_2", 4)),
        ({"uuid": "", "parent_tool_use_id": "", "api_message_id": 3}, (None, None, None, 4)),
    ],
)
def test_a_streamed_text_delta_with_every_field(fields: dict[str, Any], want: tuple[Any, ...]) -> None:
    uuid, parent, api_id, index = want
    inner = {"type": "content_block_delta", "index": 4, "delta": {"type": "text_delta", "text": "Hel"}}
    event = {"type": "stream_event", "event": inner, **fields}
    for messages in both(event):
        (message,) = messages
        want_content = TextContent("Hel", True, api_id, index)
        assert (message.type, message.content, message.parent_id) == ("text", want_content, parent)
        assert message.id == uuid if uuid else (type(message.id) is str and message.id)
        assert type(message.timestamp) is int


def test_a_streamed_delta_with_an_odd_index_or_text() -> None:
    inner: dict[str, Any] = {"type": "content_block_delta", "index": "2", "delta": {"type": "text_delta", "text": None}}
    (message,) = parse_message("claude", {"type": "stream_event", "uuid": "u", "event": inner})
    assert message.content == TextContent("", True, None, None)
    inner = {"type": "content_block_delta", "index": 2.0, "delta": {"type": "text_delta", "text": "x"}}
    (message,) = parse_message("claude", {"type": "stream_event", "uuid": "u", "event": inner})
    assert message.content == TextContent("x", True, None, 2)


def test_a_result_after_another_block_is_not_lost() -> None:
    blocks = [{"type": "text", "text": "first a remark"}, result_block(0)]
    event = {"type": "user", "uuid": "u-4", "message": {"content": blocks}}
    for messages in both(event):
        assert [(m.id, m.type) for m in messages] == [("u-4-tool_result-0", "tool_result"), ("u-4-unknown", "unknown")]
