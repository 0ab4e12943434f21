"""Custom adapters through the registry, every outcome checked by value: what mutation testing found unchecked.

A custom adapter is user code. Whatever it does with an event (raise, return nothing,
a generator, something that is not a list of messages) costs at most that event, which
comes out as an ``unknown`` message stamped with one clock reading per batch, and the
log says which adapter misbehaved and how.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from sidecar_sync.adapters import (
    _registry,
    adapter_names,
    new_stream_adapter,
    parse_message,
    register_adapter,
    unregister_adapter,
)
from sidecar_sync.errors import InvalidOptionError, UnknownProviderError
from sidecar_sync.messages import AgentMessage, StreamAdapter, TextContent

CLOCK = 1_700_000_000_123  # a clock reading no real now_ms() returns during the test


def say(event: dict[str, Any]) -> AgentMessage:
    return AgentMessage(f"m-{event['say']}", "text", TextContent(str(event["say"])), None, 7)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The registry's clock, fixed; the list counts the readings."""
    readings: list[int] = []

    def fake_now_ms() -> int:
        readings.append(CLOCK)
        return CLOCK

    monkeypatch.setattr(_registry, "now_ms", fake_now_ms)
    return readings


def adapter_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str, bool]]:
    records = [r for r in caplog.records if r.name == "sidecar_sync.adapters"]
    return [(r.levelno, r.getMessage(), r.exc_info is not None) for r in records]


def test_a_stream_adapter_is_named_after_its_provider() -> None:
    def my_adapter(event: dict[str, Any]) -> list[AgentMessage]:
        return []

    assert new_stream_adapter(my_adapter).provider == "<custom my_adapter>"
    register_adapter("named-test", my_adapter)
    try:
        assert new_stream_adapter("named-test").provider == "named-test"
    finally:
        unregister_adapter("named-test")


def test_a_raising_adapter_costs_its_events_stamped_with_one_clock_reading(
    clock: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    def flaky(event: dict[str, Any]) -> list[AgentMessage]:
        if "say" not in event:
            raise RuntimeError("boom")
        return [say(event)]

    events: list[dict[str, Any]] = [{"bad": 1}, {"say": "a"}, {"bad": 2}, {"say": "b"}]
    with caplog.at_level(logging.DEBUG, logger="sidecar_sync.adapters"):
        messages = new_stream_adapter(flaky).adapt_batch(events)
    assert [(m.type, m.content, m.timestamp) for m in messages] == [
        ("unknown", {"bad": 1}, CLOCK),
        ("text", TextContent("a"), 7),
        ("unknown", {"bad": 2}, CLOCK),
        ("text", TextContent("b"), 7),
    ]
    assert clock == [CLOCK]  # read once, at the first failure
    message = "adapter '<custom flaky>' raised on an event; passing it on as 'unknown'"
    assert adapter_records(caplog) == [(logging.ERROR, message, True)] * 2


def test_an_adapter_that_returns_none_skips_only_that_event(clock: list[int], caplog: pytest.LogCaptureFixture) -> None:
    def quiet(event: dict[str, Any]) -> Any:
        return None if "say" not in event else [say(event)]

    with caplog.at_level(logging.DEBUG, logger="sidecar_sync.adapters"):
        messages = new_stream_adapter(quiet).adapt_batch([{"skip": 1}, {"say": "a"}, {"skip": 2}, {"say": "b"}])
    assert [m.content for m in messages] == [TextContent("a"), TextContent("b")]
    assert clock == []
    assert adapter_records(caplog) == []


def test_an_adapter_may_return_any_iterable_of_messages(clock: list[int]) -> None:
    def gen(event: dict[str, Any]) -> Iterator[AgentMessage]:
        yield say(event)
        yield say({"say": f"{event['say']}!"})

    def tup(event: dict[str, Any]) -> tuple[AgentMessage, ...]:
        return (say(event),)

    for fn in (gen, tup):
        messages = new_stream_adapter(fn).adapt_batch([{"say": "a"}, {"say": "b"}])  # type: ignore[arg-type]
        want = ["a", "a!", "b", "b!"] if fn is gen else ["a", "b"]
        assert [m.content for m in messages] == [TextContent(t) for t in want]
    assert clock == []


class NotAMessage:
    def __repr__(self) -> str:
        return "<not a message>"


@pytest.mark.parametrize(
    ("returned", "shown"),
    [
        (5, None),  # not iterable (the log shows None then, not the 5: left as it is)
        ([NotAMessage()], "[<not a message>]"),
        (
            [AgentMessage("x", 3, None, None, 1)],  # type: ignore[arg-type]
            "[AgentMessage(id='x', type=3, content=None, parent_id=None, timestamp=1)]",
        ),
    ],
)
def test_an_adapter_that_returns_no_list_of_messages_costs_its_event(
    returned: Any, shown: str | None, clock: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    def odd(event: dict[str, Any]) -> Any:
        return returned if "say" not in event else [say(event)]

    with caplog.at_level(logging.DEBUG, logger="sidecar_sync.adapters"):
        messages = new_stream_adapter(odd).adapt_batch([{"odd": 1}, {"say": "a"}, {"odd": 2}])
    assert [(m.type, m.content, m.timestamp) for m in messages] == [
        ("unknown", {"odd": 1}, CLOCK),
        ("text", TextContent("a"), 7),
        ("unknown", {"odd": 2}, CLOCK),
    ]
    assert clock == [CLOCK]
    records = adapter_records(caplog)
    assert [(level, exc_info) for level, _, exc_info in records] == [(logging.ERROR, False)] * 2
    for _, text, _ in records:
        head, tail = "adapter '<custom odd>' returned ", ", not a list of AgentMessage; event passed on as 'unknown'"
        assert text.startswith(head) and text.endswith(tail)
        assert shown is None or text == head + shown + tail


@pytest.mark.parametrize(
    ("name", "adapter", "message"),
    [
        ("", say, "adapter name must be a non-empty string, got ''"),
        (None, say, "adapter name must be a non-empty string, got None"),
        ("x-test", "not callable", "adapter for 'x-test' must be callable, got str"),
        ("x-test", 3, "adapter for 'x-test' must be callable, got int"),
    ],
)
def test_register_refusals_say_why(name: Any, adapter: Any, message: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        register_adapter(name, adapter)
    assert str(caught.value) == message


class Prefixing(StreamAdapter):
    """A stream adapter class: each message names the provider it was made for."""

    __slots__ = ()

    def adapt_batch(self, events: Iterable[dict[str, Any]]) -> list[AgentMessage]:
        return [say({"say": f"{self.provider}:{event['say']}"}) for event in events]


def test_a_registered_stream_adapter_class_is_made_for_its_name() -> None:
    register_adapter("class-test", Prefixing)
    try:
        assert new_stream_adapter("class-test").provider == "class-test"
        stream = new_stream_adapter("class-test")
        assert [m.content for m in stream.adapt({"say": "a"})] == [TextContent("class-test:a")]
        assert [m.content for m in parse_message("class-test", {"say": "b"})] == [TextContent("class-test:b")]
    finally:
        unregister_adapter("class-test")


def test_unregistering_an_unknown_name_names_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownProviderError) as caught:
        unregister_adapter("never-registered")
    assert caught.value.provider == "never-registered"
    assert caught.value.known == adapter_names()
    assert str(caught.value) == f"unknown provider 'never-registered'; known providers: {', '.join(adapter_names())}"
