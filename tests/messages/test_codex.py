"""The Codex adapter on real recordings of ``codex exec --json`` (Codex 0.169.0)."""

from __future__ import annotations

from sidecar_sync.messages import (
    AgentMessage,
    ErrorContent,
    InitContent,
    StatusContent,
    TextContent,
    ToolCallContent,
    new_stream_adapter,
    parse_message,
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
