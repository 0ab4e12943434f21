"""The adapter registry, custom adapters, ``auto`` detection and the message basics."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sidecar_sync import UnknownProviderError
from sidecar_sync.adapters import adapter_names, new_stream_adapter, parse_message, register_adapter, unregister_adapter
from sidecar_sync.adapters._auto import AutoStreamAdapter, detect_provider
from sidecar_sync.messages import (
    MESSAGE_TYPES,
    AgentMessage,
    StreamAdapter,
    TextContent,
    new_message_id,
    now_ms,
)
from tests.messages.conftest import load_events


def test_builtins_are_registered() -> None:
    assert {"claude", "codex", "ollama", "auto"} <= set(adapter_names())


def test_unknown_provider_raises() -> None:
    with pytest.raises(UnknownProviderError, match="unknown provider 'nope'"):
        parse_message("nope", {"type": "x"})
    with pytest.raises(UnknownProviderError):
        new_stream_adapter("nope")
    with pytest.raises(LookupError):  # also the builtin it means
        new_stream_adapter("nope")


def echo_adapter(event: dict) -> list[AgentMessage]:
    return [AgentMessage(new_message_id(), "text", TextContent(str(event.get("say"))), None, now_ms())]


def test_custom_callable_adapter() -> None:
    register_adapter("echo-test", echo_adapter)
    try:
        assert "echo-test" in adapter_names()
        (message,) = parse_message("echo-test", {"say": "hi"})
        assert message.content == TextContent("hi")
        stream = new_stream_adapter("echo-test")
        assert [m.content.text for m in stream.adapt_batch([{"say": 1}, {"say": 2}])] == ["1", "2"]
    finally:
        unregister_adapter("echo-test")
    assert "echo-test" not in adapter_names()


def test_callable_passed_directly() -> None:
    stream = new_stream_adapter(echo_adapter)
    assert stream.adapt({"say": "x"})[0].content.text == "x"


def test_custom_adapter_that_raises_loses_only_its_event(caplog: pytest.LogCaptureFixture) -> None:
    def flaky(event: dict) -> list[AgentMessage]:
        if event.get("bad"):
            raise RuntimeError("boom")
        return echo_adapter(event)

    stream = new_stream_adapter(flaky)
    with caplog.at_level(logging.ERROR, logger="sidecar_sync"):
        messages = stream.adapt_batch([{"say": "a"}, {"bad": True}, {"say": "b"}])
    assert [m.type for m in messages] == ["text", "unknown", "text"]
    assert messages[1].content == {"bad": True}
    assert "boom" in caplog.text


class CountingAdapter(StreamAdapter):
    __slots__ = ("seen",)

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.seen = 0

    def adapt_batch(self, events):
        out = []
        for _event in events:
            self.seen += 1
            out.append(AgentMessage(new_message_id(), "text", TextContent(str(self.seen)), None, now_ms()))
        return out


def test_custom_stream_adapter_class_keeps_state_per_stream() -> None:
    register_adapter("counting-test", CountingAdapter)
    try:
        one, two = new_stream_adapter("counting-test"), new_stream_adapter("counting-test")
        assert [m.content.text for m in one.adapt_batch([{}, {}])] == ["1", "2"]
        assert [m.content.text for m in two.adapt_batch([{}])] == ["1"]
        assert parse_message("counting-test", {})[0].content.text == "1"
    finally:
        unregister_adapter("counting-test")


@pytest.mark.parametrize("name", ["", None, 3])
def test_register_rejects_bad_names(name) -> None:
    with pytest.raises(ValueError):
        register_adapter(name, echo_adapter)


def test_register_rejects_non_callables() -> None:
    with pytest.raises(ValueError):
        register_adapter("x-test", "not callable")  # type: ignore[arg-type]


def normalized(messages: list[AgentMessage]) -> list[dict]:
    """The messages as dicts without the generated parts (ids, fragment group ids, time)."""
    out = []
    for message in messages:
        data = message.to_dict()
        del data["id"], data["timestamp"]
        if isinstance(data["content"], dict) and "message_id" in data["content"]:
            data["content"] = dict(data["content"], message_id=None)
        out.append(data)
    return out


@pytest.mark.parametrize(
    ("path", "provider"),
    [
        ("claude/claude_tool_bash.jsonl", "claude"),
        ("claude/claude_stream_input.jsonl", "claude"),
        ("codex/codex_command.jsonl", "codex"),
        ("codex/codex_api_error_401.jsonl", "codex"),
        ("ollama/shapes_chat.jsonl", "ollama"),
        ("ollama/shapes_tools_thinking.jsonl", "ollama"),
    ],
)
def test_auto_detects_the_provider_and_maps_like_it(path: str, provider: str) -> None:
    events = load_events(path)
    auto = new_stream_adapter("auto")
    got = auto.adapt_batch(events)
    want = new_stream_adapter(provider).adapt_batch(events)
    assert auto.detected == provider
    assert normalized(got) == normalized(want)


def test_auto_decides_mid_batch_and_across_batches() -> None:
    events = load_events("ollama/shapes_chat.jsonl")
    auto = new_stream_adapter("auto")
    first = auto.adapt_batch(events[:1])  # only the init: undecided, neutral mapping
    assert auto.detected is None and [m.type for m in first] == ["init"]
    rest = auto.adapt_batch(events[1:])
    assert auto.detected == "ollama"
    assert [m.content.text for m in rest if m.type == "text" and not m.content.delta] == ["The sky is blue."]


@pytest.mark.parametrize(
    ("event", "provider"),
    [
        ({"type": "system", "subtype": "init", "uuid": "u1"}, "claude"),  # Claude's system lines carry a uuid
        ({"type": "system", "subtype": "init"}, None),  # the Ollama runner's do not
        ({"type": "status", "uuid": "u1"}, None),  # a uuid alone says nothing
        ({"type": "chunk"}, "ollama"),
        ({"type": ["system"]}, None),
        ("system", None),
    ],
)
def test_detect_provider(event: Any, provider: str | None) -> None:
    assert detect_provider(event) == provider


def test_auto_is_named_auto_and_takes_any_iterable_of_events() -> None:
    events = load_events("ollama/shapes_chat.jsonl")
    auto = new_stream_adapter("auto")
    assert auto.provider == AutoStreamAdapter().provider == "auto"
    got = auto.adapt_batch(iter(events))  # undecided at the start: a generator, not a list
    assert auto.detected == "ollama"
    assert normalized(got) == normalized(new_stream_adapter("auto").adapt_batch(events))


def test_message_types_constant() -> None:
    assert {
        "init", "text", "thinking", "tool_call", "tool_result", "status", "compaction", "cost", "error", "unknown",
    } == MESSAGE_TYPES


def test_ids_are_unique_and_cheap() -> None:
    ids = {new_message_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_unknown_to_dict_keeps_the_raw_event() -> None:
    (message,) = parse_message("claude", {"type": "brand_new", "x": [1, 2]})
    assert message.type == "unknown"
    assert message.to_dict()["content"] == {"type": "brand_new", "x": [1, 2]}


def test_registry_names_are_reachable_from_the_messages_module() -> None:
    """The registry lives in ``sidecar_sync.adapters``; ``sidecar_sync.messages`` hands the same functions on."""
    import sidecar_sync
    import sidecar_sync.adapters as adapters
    import sidecar_sync.messages as messages

    for name in ("parse_message", "new_stream_adapter", "register_adapter", "unregister_adapter", "adapter_names"):
        assert getattr(messages, name) is getattr(adapters, name)
    assert sidecar_sync.parse_message is adapters.parse_message
    with pytest.raises(AttributeError):
        messages.no_such_name  # noqa: B018
