"""The Claude adapter's inline path for stream events gives exactly what its handlers give.

``ClaudeStreamAdapter.adapt_batch`` adapts stream events in the CLI's shape inline and
hands everything else to the handler table. The reference is the plain dispatch loop
over the same table (``DispatchStreamAdapter(..., HANDLERS)``): same messages, same
order, same ids drawn in the same order, same field types, odd shapes included.
"""

from __future__ import annotations

import contextlib
import itertools
import pickle
from collections import Counter
from collections.abc import Iterator
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar_sync.adapters import _claude, _common
from sidecar_sync.adapters._claude import HANDLERS, ClaudeStreamAdapter
from sidecar_sync.adapters._common import DispatchStreamAdapter
from sidecar_sync.messages import AgentMessage, TextContent
from tests.messages.conftest import DATA, load_events

RECORDED = [e for path in sorted(DATA.glob("claude/*.jsonl")) for e in load_events(str(path.relative_to(DATA)))]


class _Missing(dict):  # type: ignore[type-arg]
    """A dict subclass whose subscripts never fail: must not take the inline path."""

    def __missing__(self, key: str) -> str:
        return "text_delta"


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Generated ids from a fresh counter and a fixed clock, in both adapters' modules."""
    counter = itertools.count(1)

    def new_id() -> str:
        return f"gen-{next(counter)}"

    with contextlib.ExitStack() as stack:
        for module in (_claude, _common):
            stack.enter_context(mock.patch.object(module, "now_ms", lambda: 1234))
        stack.enter_context(mock.patch.object(_claude, "new_message_id", new_id))
        stack.enter_context(mock.patch("sidecar_sync.messages.new_message_id", new_id))
        yield


def _both(events: list[Any]) -> tuple[list[AgentMessage], list[AgentMessage]]:
    with _deterministic():
        fast = ClaudeStreamAdapter().adapt_batch(events)
    with _deterministic():
        reference = DispatchStreamAdapter("claude", HANDLERS).adapt_batch(events)
    return fast, reference


def _same(fast: list[AgentMessage], reference: list[AgentMessage]) -> None:
    assert fast == reference
    assert [repr(m) for m in fast] == [repr(m) for m in reference]  # field types: True is not 1
    assert [type(m.content) for m in fast] == [type(m.content) for m in reference]
    assert [m.to_dict() for m in fast] == [m.to_dict() for m in reference]
    assert pickle.dumps(fast) == pickle.dumps(reference)


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.sampled_from(["", "x", "msg_1", "toolu_1", "u-1"]),
    st.text(max_size=4),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, _value)


_delta = st.fixed_dictionaries(
    {},
    optional={
        "type": _maybe(st.sampled_from(["text_delta", "thinking_delta", "input_json_delta", "signature_delta"])),
        "text": _value,
        "thinking": _value,
    },
)
_inner = st.fixed_dictionaries(
    {},
    optional={
        "type": _maybe(st.sampled_from(["content_block_delta", "content_block_start", "message_stop"])),
        "index": _maybe(st.sampled_from([0, 1, 7, 2.0, 2.5, True])),
        "delta": _maybe(_delta),
    },
)
_stream = st.fixed_dictionaries(
    {},
    optional={
        "type": _maybe(st.sampled_from(["stream_event", "assistant", "system", "user", "result"])),
        "event": _maybe(_inner),
        "uuid": _maybe(st.sampled_from(["u1", "u2", ""])),
        "api_message_id": _value,
        "parent_tool_use_id": _maybe(st.sampled_from(["toolu_1", ""])),
        "session_id": _value,
    },
)
# every key the inline path reads present, with any values: the inline path runs
_full = st.fixed_dictionaries(
    {
        "type": st.just("stream_event"),
        "event": st.fixed_dictionaries(
            {
                "type": st.just("content_block_delta"),
                "index": _maybe(st.sampled_from([0, 1, 7, 2.0, True])),
                "delta": st.fixed_dictionaries(
                    {"type": st.sampled_from(["text_delta", "thinking_delta"]), "text": _value, "thinking": _value}
                ),
            }
        ),
        "uuid": _maybe(st.sampled_from(["u1", "u2", ""])),
        "api_message_id": _maybe(st.sampled_from(["msg_1", ""])),
        "parent_tool_use_id": _maybe(st.sampled_from(["toolu_1", ""])),
    }
)
_event = st.one_of(
    _full,
    _stream,
    _stream.map(_Missing),
    st.sampled_from(RECORDED),
    _value,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_event, max_size=8))
def test_inline_path_equals_the_handlers_and_a_tally_counts_or_builds_every_message(events: list[Any]) -> None:
    _same(*_both(events))
    _tally_agrees(*_tallied(events))  # tally_batch: below


def test_recordings_equal_the_handlers() -> None:
    fast, reference = _both(RECORDED)
    assert any(m.content is not None and getattr(m.content, "delta", False) for m in fast)  # the inline path ran
    _same(fast, reference)


def test_a_delta_with_a_key_missing_goes_to_the_handler() -> None:
    event = {"type": "stream_event", "event": {"type": "content_block_delta", "delta": {"type": "text_delta"}}}
    fast, reference = _both([event, _Missing(event)])
    _same(fast, reference)
    content = fast[0].content
    assert fast[0].type == "text" and isinstance(content, TextContent) and content.index is None
    assert fast[0].id == "gen-1"


# -- tally_batch: the inline path counting instead of building ------------------------

_ACCOUNTED = {"init", "cost", "error"}


def _without_id(message: AgentMessage) -> tuple[Any, ...]:
    return (message.type, message.content, message.parent_id, message.timestamp)


def _tallied(events: list[Any]) -> tuple[Counter[str], list[AgentMessage], list[AgentMessage]]:
    counts: Counter[str] = Counter()
    with _deterministic():
        built = ClaudeStreamAdapter().tally_batch(events, counts)
    with _deterministic():
        full = ClaudeStreamAdapter().adapt_batch(events)
    return counts, built, full


def _tally_agrees(counts: Counter[str], built: list[AgentMessage], full: list[AgentMessage]) -> None:
    # every type adapt_batch makes is either counted or built, as often
    assert counts + Counter(m.type for m in built) == Counter(m.type for m in full)
    assert all(n > 0 for n in counts.values())
    # what accounting reads is always built, equal to adapt_batch's
    assert not _ACCOUNTED & counts.keys()
    built_keys = [_without_id(m) for m in built]
    assert [k for k in built_keys if k[0] in _ACCOUNTED] == [_without_id(m) for m in full if m.type in _ACCOUNTED]
    # the built ones are adapt_batch's messages, in order (generated ids aside)
    remaining = iter([_without_id(m) for m in full])
    assert all(key in remaining for key in built_keys)


def test_a_tally_of_recordings_counts_the_stream_events_and_builds_the_rest() -> None:
    counts, built, full = _tallied(RECORDED)
    _tally_agrees(counts, built, full)
    streams = sum(1 for e in RECORDED if e.get("type") == "stream_event")
    assert streams and counts.total() == streams  # each stream event counted, none built
    assert counts["text"] and counts["unknown"]
    assert len(built) == len(full) - streams


def test_a_stream_event_the_inline_path_cannot_read_is_built_not_counted() -> None:
    events = [
        {"type": "stream_event"},  # no "event": the handler makes an unknown message
        {"type": "stream_event", "event": {"type": "content_block_delta", "delta": {"text": "x"}}},
        _Missing({"type": "stream_event", "event": {"type": "content_block_delta", "delta": {"type": "text_delta"}}}),
    ]
    counts, built, full = _tallied(events)
    assert counts == Counter() and [m.type for m in built] == ["unknown", "unknown", "text"]
    _tally_agrees(counts, built, full)
