"""The text renderer on messages adapted from real recordings."""

from __future__ import annotations

import io

import orjson
import pytest

from sidecar_sync.cli._render import (
    JsonWriter,
    Renderer,
    format_cost,
    format_cost_line,
    one_line,
    shorten,
    use_color,
)
from sidecar_sync.messages import (
    AgentMessage,
    TextContent,
    ThinkingContent,
    ToolCallContent,
    ToolResultContent,
)
from sidecar_sync.replay import Replay
from tests.cli.conftest import DATA


def render(
    messages: list[AgentMessage], *, color: bool = False, show_unknown: bool = False
) -> str:
    out = io.StringIO()
    Renderer(out, color=color, show_unknown=show_unknown).messages(messages)
    return out.getvalue()


def test_claude_tool_turn() -> None:
    text = render(list(Replay(DATA / "claude_tool_bash.jsonl")))
    assert text.splitlines() == [
        "● session 5c1b5c56-a382-4b9f-a565-5ad430c0a9d9 · claude-opus-5-5 · "
        "/home/dev/project-root/work",
        '→ Bash {"command":"echo hi","description":"run a command for the fake model"}',
        "← hi",
        "Tool said: hi",
        "─ turn: $0.000376 · 24 in / 14 out tokens · 2 turns · 169 ms",
    ]


def test_codex_errors_and_failed_turn() -> None:
    text = render(list(Replay(DATA / "codex_api_error_401.jsonl")))
    assert "✗ error: Reconnecting... 1/5" in text
    assert "unexpected status 401" in text


def test_claude_api_error_turn_is_marked_failed_with_the_adapters_reason() -> None:
    """The turn line says it failed; the reason is the adapter's error message, once."""
    text = render(list(Replay(DATA / "claude_api_error_500.jsonl")))
    lines = text.splitlines()
    assert "─ turn failed · $0.00 · 0 in / 0 out tokens · 1 turn · 664 ms" in lines
    assert lines[-1].startswith("✗ error: API Error: 500 fake server: forced 500.")
    assert sum("✗ error: API Error: 500" in line for line in lines) == 1


def test_streamed_fragments_are_inline_and_not_repeated() -> None:
    messages = list(Replay(DATA / "claude_partial_messages.jsonl"))
    deltas = [m for m in messages if m.type == "text" and m.content.delta]
    full = [m for m in messages if m.type == "text" and not m.content.delta]
    assert deltas and full
    text = render(messages)
    joined = "".join(m.content.text for m in deltas)
    assert joined in text
    assert text.count(full[-1].content.text) == 1


def test_thinking_is_marked_and_dimmed() -> None:
    m = AgentMessage(
        "1", "thinking", ThinkingContent("let me think\nabout it"), None, 0
    )
    assert render([m]) == "✻ thinking: let me think\n  about it\n"
    coloured = render([m], color=True)
    assert coloured.startswith("\x1b[2m✻ thinking: ") and coloured.endswith("\x1b[0m\n")


def test_thinking_fragments_then_text() -> None:
    ms = [
        AgentMessage("1", "thinking", ThinkingContent("hmm", delta=True), None, 0),
        AgentMessage("2", "thinking", ThinkingContent(" ok", delta=True), None, 0),
        AgentMessage("3", "text", TextContent("Hel", delta=True), None, 0),
        AgentMessage("4", "text", TextContent("lo", delta=True), None, 0),
        AgentMessage("5", "thinking", ThinkingContent("hmm ok"), None, 0),
        AgentMessage("6", "text", TextContent("Hello"), None, 0),
        AgentMessage("7", "text", TextContent("Next block"), None, 0),
    ]
    assert render(ms) == "✻ thinking: hmm ok\nHello\nNext block\n"


def test_tool_results_are_shortened() -> None:
    long_output = "\n".join(f"line {i}" for i in range(100))
    ms = [
        AgentMessage(
            "1",
            "tool_call",
            ToolCallContent("t1", "Read", {"path": "x" * 1000}),
            None,
            0,
        ),
        AgentMessage("2", "tool_result", ToolResultContent("t1", long_output), None, 0),
        AgentMessage(
            "3",
            "tool_result",
            ToolResultContent("t2", [{"type": "text", "text": "boom"}], is_error=True),
            None,
            0,
        ),
        AgentMessage("4", "tool_result", ToolResultContent("t3", ""), None, 0),
    ]
    lines = render(ms).splitlines()
    assert lines[0].startswith('→ Read {"path":"xxx') and lines[0].endswith(
        "… (+711 chars)"
    )
    assert lines[1] == "← line 0"
    assert lines[6] == "  line 5… (+94 more lines)"
    assert lines[7] == "← error: boom"
    assert lines[8] == "← (no output)"


def test_unknown_hidden_unless_asked() -> None:
    m = AgentMessage("1", "unknown", {"type": "control_request"}, None, 0)
    assert render([m]) == ""
    assert render([m], show_unknown=True) == "? unknown event control_request\n"


def test_shorten() -> None:
    assert shorten("abc", 10) == "abc"
    assert shorten("abcdef", 3) == "abc… (+3 chars)"
    assert shorten("a\nb\nc", 100, 2) == "a\nb… (+1 more lines)"


@pytest.mark.parametrize(
    ("cost", "text"),
    [
        (None, "$-"),
        (float("nan"), "$-"),
        (0.0, "$0.00"),
        (1.234, "$1.23"),
        (1234.5, "$1,234.50"),
        (0.0123, "$0.0123"),
        (0.5, "$0.50"),
        (0.7873, "$0.787"),
        (0.000376, "$0.000376"),
        (0.0003, "$0.0003"),
        (0.009996, "$0.01"),
        (0.9996, "$1.00"),
        (5e-8, "<$0.000001"),
    ],
)
def test_money_is_rounded_for_people(cost: float | None, text: str) -> None:
    """Cents from a dollar up, three significant digits below; unknown is ``$-``."""
    assert format_cost(cost) == text


def test_format_cost_line() -> None:
    assert (
        format_cost_line("done", 0.5, 1200, 30, 2.5)
        == "done · $0.50 · 1,200 in / 30 out tokens · 2.5 s"
    )
    assert (
        format_cost_line("done", None, 0, 0, 0.01)
        == "done · $- · 0 in / 0 out tokens · 10 ms"
    )


def test_one_line() -> None:
    assert one_line("  short  ", 10) == "short"
    assert one_line("first\nsecond", 100) == "first…"
    assert one_line("abcdef", 3) == "abc…"


def test_json_writer_lines() -> None:
    out = io.BytesIO()
    messages = list(Replay(DATA / "codex_command.jsonl"))
    JsonWriter(out).messages(messages)
    lines = out.getvalue().splitlines()
    assert [orjson.loads(x) for x in lines] == [
        orjson.loads(orjson.dumps(m.to_dict())) for m in messages
    ]


def test_json_writer_survives_odd_values() -> None:
    out = io.BytesIO()
    JsonWriter(out).messages([AgentMessage("1", "unknown", {"x": {1, 2}}, None, 0)])
    assert orjson.loads(out.getvalue())["content"]["x"].startswith("{")


@pytest.mark.parametrize(
    ("no_color", "term", "expected"),
    [
        (None, "xterm", True),
        ("1", "xterm", False),
        (None, "dumb", False),
        ("", "xterm", True),
    ],
)
def test_use_color(
    monkeypatch: pytest.MonkeyPatch, no_color: str | None, term: str, expected: bool
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setenv("TERM", term)
    assert use_color(Tty()) is expected
    assert use_color(io.StringIO()) is False
