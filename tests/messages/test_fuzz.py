"""Adapters never raise on odd input: property tests over arbitrary JSON values.

Three kinds of input, for every built-in adapter, stateless and stream:

* arbitrary JSON values (nulls, bools, huge ints, floats, huge strings, lists,
  dicts), as a line's value or inside an event;
* events built from the providers' own vocabulary (every ``type`` the
  adapters know, every key seen in the recordings) with arbitrary values, so
  the fuzzing reaches the deep branches that random dicts never would;
* real recorded events with one subtree replaced by an arbitrary value or
  deleted.

Every output must be a well-formed :class:`AgentMessage` whose content type
matches its message type, serialisable by orjson, and nothing may be logged at
ERROR (the adapters' last-resort guard turns an internal exception into an
``unknown`` message and logs it: that would be a bug, and this test fails on it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

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
from tests.messages.conftest import DATA, load_events

PROVIDERS = ("claude", "codex", "ollama", "auto")

CONTENT_CLASS = {
    "init": InitContent,
    "text": TextContent,
    "thinking": ThinkingContent,
    "tool_call": ToolCallContent,
    "tool_result": ToolResultContent,
    "status": StatusContent,
    "compaction": CompactionContent,
    "cost": CostContent,
    "error": ErrorContent,
}

RECORDED = [event for path in sorted(DATA.glob("*/*.jsonl")) for event in load_events(str(path.relative_to(DATA)))]


def _keys_and_strings(value: Any, keys: set[str], strings: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            keys.add(key)
            _keys_and_strings(item, keys, strings)
    elif isinstance(value, list):
        for item in value:
            _keys_and_strings(item, keys, strings)
    elif isinstance(value, str) and len(value) < 40:
        strings.add(value)


_KEYS: set[str] = set()
_STRINGS: set[str] = set()
for _event in RECORDED:
    _keys_and_strings(_event, _KEYS, _STRINGS)
# the vocabulary the adapters branch on, whether or not the recordings show it
_STRINGS |= {
    "system", "assistant", "user", "result", "stream_event", "chunk", "error", "init", "compact_boundary",
    "api_retry", "permission_denied", "status", "text", "thinking", "tool_use", "server_tool_use", "tool_result",
    "content_block_delta", "text_delta", "thinking_delta", "thread.started", "turn.started", "turn.completed",
    "turn.failed", "item.started", "item.updated", "item.completed", "agent_message", "reasoning", "plan",
    "command_execution", "file_change", "mcp_tool_call", "web_search", "todo_list", "add", "update", "delete",
    "failed", "declined", "completed", "success", "api_error",
}
_KEYS |= {"compact_metadata", "trigger", "pre_tokens", "tool_name", "changes", "server", "tool", "arguments",
          "structured_content", "items", "completed", "query", "action", "thinking", "tool_calls", "function",
          "done", "done_reason", "prompt_eval_count", "eval_count", "eval_duration", "errors", "delta", "index"}
KEYS = sorted(_KEYS)
STRINGS = sorted(_STRINGS)

#: A huge string (64 Ki characters of mixed widths), shared so drawing it costs nothing
#: (test_huge_strings_pass_through covers a multi-megabyte one).
HUGE = "a\u00e9\u2028\U0001f600" * (2**14)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(STRINGS)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
# dicts keyed by the providers' own key names: reach the real branches
vocab_values = st.recursive(
    scalars | st.just(HUGE),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=6),
    max_leaves=30,
)
vocab_events = st.builds(
    lambda kind, fields: {**fields, "type": kind},
    st.sampled_from(STRINGS) | json_values,
    st.dictionaries(st.sampled_from(KEYS), vocab_values, max_size=8),
)


def _signature(event: dict[str, Any]) -> tuple[Any, ...]:
    """What the adapters branch on: the event's type and subtype, its item's or blocks' types."""
    item = event.get("item") if isinstance(event.get("item"), dict) else {}
    inner = event.get("event") if isinstance(event.get("event"), dict) else {}
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    blocks = message.get("content") if isinstance(message.get("content"), list) else []
    return (
        event.get("type"),
        event.get("subtype"),
        item.get("type"),
        inner.get("type"),
        tuple(b.get("type") for b in blocks if isinstance(b, dict)),
        "done" in event,
        "tool_calls" in message,
    )


def _trimmed(value: Any) -> Any:
    """``value`` with every list cut to 3 items (init lines list ~100 commands; 3 show the shape)."""
    if isinstance(value, dict):
        return {key: _trimmed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trimmed(item) for item in value[:3]]
    return value


#: One recorded or real-shape event per distinct shape, the seeds of the mutations.
SHAPES = [_trimmed(event) for event in {_signature(event): event for event in RECORDED}.values()]


@st.composite
def mutated_recordings(draw: st.DrawFn) -> Any:
    """A real event with random subtrees replaced by arbitrary values or deleted, at any depth."""

    def mutate(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                action = draw(st.sampled_from(("keep", "keep", "keep", "drop", "replace")))
                if action == "drop":
                    continue
                out[key] = draw(json_values) if action == "replace" else mutate(value)
            return out
        if isinstance(node, list):
            return [draw(json_values) if draw(st.integers(0, 4)) == 0 else mutate(value) for value in node]
        return node

    return mutate(draw(st.sampled_from(SHAPES)))


any_event = json_values | vocab_events | mutated_recordings()


@contextlib.contextmanager
def no_errors_logged() -> Iterator[None]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("sidecar_sync")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not records, [r.getMessage() for r in records]


def check(messages: Any) -> None:
    assert type(messages) is list
    for message in messages:
        assert type(message) is AgentMessage
        assert message.type in MESSAGE_TYPES
        assert type(message.id) is str and message.id
        assert message.parent_id is None or type(message.parent_id) is str
        assert type(message.timestamp) is int
        if message.type != "unknown":
            assert type(message.content) is CONTENT_CLASS[message.type]
        data = message.to_dict()
        orjson.dumps(data)
        if message.type == "cost":
            content = message.content
            assert type(content.input_tokens) is int and type(content.output_tokens) is int
            assert content.total_cost_usd is None or type(content.total_cost_usd) is float
            assert type(content.is_error) is bool
        elif message.type in ("text", "thinking"):
            assert type(message.content.text) is str
        elif message.type == "error":
            assert type(message.content.message) is str and message.content.message


@settings(max_examples=max(300, settings().max_examples))
@given(event=any_event)
def test_stateless_adapters_never_raise(event: Any) -> None:
    with no_errors_logged():
        for provider in PROVIDERS:
            check(parse_message(provider, event))


@given(events=st.lists(any_event, max_size=6), cut=st.integers(0, 6))
def test_stream_adapters_never_raise(events: list[Any], cut: int) -> None:
    with no_errors_logged():
        for provider in PROVIDERS:
            adapter = new_stream_adapter(provider)
            check(adapter.adapt_batch(events[:cut]))
            check(adapter.adapt_batch(events[cut:]))
            for event in events:
                check(adapter.adapt(event))


@given(events=st.lists(st.sampled_from(RECORDED) | mutated_recordings(), max_size=30))
def test_stream_adapters_on_mixed_real_streams(events: list[Any]) -> None:
    """Recorded events of all providers interleaved, some damaged: still well-formed output."""
    with no_errors_logged():
        for provider in PROVIDERS:
            check(new_stream_adapter(provider).adapt_batch(events))


def test_huge_strings_pass_through() -> None:
    big = "x" * (8 * 2**20)
    event = {"type": "assistant", "message": {"content": [{"type": "text", "text": big}]}, "uuid": "u"}
    (message,) = parse_message("claude", event)
    assert message.content.text is big


def test_the_data_directory_is_not_empty() -> None:
    assert len(RECORDED) > 80
    assert len(SHAPES) > 40
    assert Path(DATA, "README.md").exists()


#: Odd values put in place of every field, one at a time, by the exhaustive test below.
ODD_VALUES: list[Any] = [None, True, 0, -1, 2**63, 1.5e300, -0.0, "", "x", HUGE, [], [None], {}, {"type": None}]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield prefix + (index,)
            yield from _paths(value, prefix + (index,))


_DELETE = object()


def _with(event: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = orjson.loads(orjson.dumps(event))
    node = copy
    for step in path[:-1]:
        node = node[step]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


def test_every_field_of_every_shape_replaced_by_odd_values() -> None:
    """Systematic single-point damage: each field (at any depth) of each real shape is deleted or
    replaced by each odd value, and every adapter, stateless and stream, still behaves."""
    adapters = [new_stream_adapter(p) for p in PROVIDERS]
    cases = 0
    with no_errors_logged():
        for shape in SHAPES:
            for path in _paths(shape):
                deletable = not isinstance(path[-1], int)
                for value in ([_DELETE] if deletable else []) + ODD_VALUES:
                    event = _with(shape, path, value)
                    for provider, adapter in zip(PROVIDERS, adapters, strict=True):
                        check(parse_message(provider, event))
                        check(adapter.adapt(event))
                    cases += 1
    assert cases > 5000
