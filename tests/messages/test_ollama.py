"""The Ollama adapter on the runner's events around ``/api/chat`` chunks.

Chunk shapes: the Ollama API docs (ollama/ollama ``docs/api.md``, "Generate a
chat completion", streaming response and final response with
``done_reason``/``prompt_eval_count``/``eval_count``/``eval_duration``), as
summarised in docs/real-clis.md "Ollama" (``message.thinking`` with
``think: true``; ``message.tool_calls`` with object ``arguments``; a mid-stream
``{"error": ..}`` line). The ``type``/init/error envelope is the one agreed with
the Ollama runner.
"""

from __future__ import annotations

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import InitContent, ToolCallContent
from tests.messages.conftest import load_events


def test_streamed_reply_gives_fragments_then_the_full_text_and_cost() -> None:
    events = load_events("ollama/shapes_chat.jsonl")
    messages = new_stream_adapter("ollama").adapt_batch(events)
    assert messages[0].content == InitContent("s-1", "llama3.2", "/home/dev/project-root/work")
    deltas = [m for m in messages if m.type == "text" and m.content.delta]
    full = [m for m in messages if m.type == "text" and not m.content.delta]
    assert [m.content.text for m in deltas] == ["The", " sky", " is blue."]
    assert [m.content.text for m in full] == ["The sky is blue."]
    cost = messages[-1]
    assert cost.type == "cost"
    assert (cost.content.input_tokens, cost.content.output_tokens) == (26, 282)
    assert cost.content.duration_ms == 4535  # eval_duration 4535599000 ns
    assert cost.content.result == "The sky is blue."
    assert cost.content.is_error is False
    assert cost.content.usage["total_duration"] == 4883583458


def test_stateless_parse_gives_fragments_only() -> None:
    events = load_events("ollama/shapes_chat.jsonl")
    messages = [m for e in events for m in parse_message("ollama", e)]
    assert [m.content.text for m in messages if m.type == "text"] == ["The", " sky", " is blue."]
    assert messages[-1].content.result is None


def test_tool_call_chunk() -> None:
    events = load_events("ollama/shapes_tools_thinking.jsonl")
    messages = new_stream_adapter("ollama").adapt_batch(events)
    calls = [m.content for m in messages if m.type == "tool_call"]
    assert calls == [ToolCallContent(None, "get_weather", {"city": "Toronto"})]
    thinking = [m for m in messages if m.type == "thinking" and not m.content.delta]
    assert [m.content.text for m in thinking] == ["The user wants the weather."]
    # the assembled thinking comes before the tool call, as it was streamed
    assert messages.index(thinking[0]) < [m.type for m in messages].index("tool_call")


def test_error_event_and_error_chunk() -> None:
    events = load_events("ollama/shapes_errors.jsonl")
    messages = new_stream_adapter("ollama").adapt_batch(events)
    errors = [m.content.message for m in messages if m.type == "error"]
    assert errors == ["an error was encountered while running the model", 'model "x" not found, try pulling it first']


def test_error_event_flushes_the_partial_reply() -> None:
    """An error mid-reply: the text streamed so far is assembled before the error."""
    events = load_events("ollama/shapes_errors.jsonl")
    messages = new_stream_adapter("ollama").adapt_batch(events)
    kinds = [(m.type, getattr(m.content, "delta", None)) for m in messages]
    assert kinds == [("init", None), ("text", True), ("text", False), ("error", None), ("error", None)]
    assert messages[2].content.text == "The"


def test_fragments_of_one_reply_share_a_message_id_and_the_next_reply_gets_a_new_one() -> None:
    events = load_events("ollama/shapes_chat.jsonl")
    adapter = new_stream_adapter("ollama")
    first = [m for m in adapter.adapt_batch(events) if m.type == "text"]
    second = [m for m in adapter.adapt_batch(events[1:]) if m.type == "text"]
    assert len({m.content.message_id for m in first}) == 1
    assert len({m.content.message_id for m in second}) == 1
    assert first[0].content.message_id != second[0].content.message_id


def test_done_reason_error_is_an_error_cost() -> None:
    (cost,) = parse_message("ollama", {"type": "chunk", "done": True, "done_reason": "error", "eval_count": 3})
    assert cost.content.is_error is True and cost.content.terminal_reason == "error"
    assert cost.content.output_tokens == 3 and cost.content.duration_ms is None
