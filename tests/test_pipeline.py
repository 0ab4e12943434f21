"""The sans-IO core: bytes in, messages and turn signals out, with no process, thread or file."""

from __future__ import annotations

import contextlib
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar_sync import decoder as decoder_module
from sidecar_sync import pipeline as pipeline_module
from sidecar_sync.adapters import new_stream_adapter
from sidecar_sync.messages import AgentMessage
from sidecar_sync.pipeline import FAILED, PIECE_SIZE, STARTED, STOPPED, Pipeline, TurnSignal
from tests.framer.twins import TWINS, patch_everywhere


def lines(*objects: Any) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objects)


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "agent_event", "event": event}


def text_event(text: str, uuid: str) -> dict[str, Any]:
    return {"type": "assistant", "uuid": uuid, "message": {"content": [{"type": "text", "text": text}]}}


def result(cost: float, tokens_in: int, tokens_out: int, *, is_error: bool = False, text: str = "ok") -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "success",
        "is_error": is_error,
        "result": text,
        "total_cost_usd": cost,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
    }


def init(session: str) -> dict[str, Any]:
    return {"type": "system", "subtype": "init", "session_id": session, "uuid": f"init-{session}"}


def run(data: bytes, chunk: int | None = None, provider: str = "claude") -> tuple[list[Any], Pipeline]:
    pipeline = Pipeline(new_stream_adapter(provider))
    out: list[Any] = []
    size = chunk or len(data) or 1
    for start in range(0, len(data), size):
        out += pipeline.receive_data(data[start : start + size])
    out += pipeline.receive_eof()
    return out, pipeline


def flatten(out: list[Any]) -> list[Any]:
    """Messages as (type, text-ish) and signals as themselves, in order."""
    flat: list[Any] = []
    for item in out:
        if isinstance(item, TurnSignal):
            flat.append(TurnSignal(item.kind, item.message, item.outcome))  # the evidence is checked apart
        else:
            assert type(item) is tuple and type(item[0]) is list and item[0], "batches are non-empty lists"
            assert type(item[1]) is int and item[1] >= 0
            for message in item[0]:
                assert isinstance(message, AgentMessage)
                content = message.content
                flat.append((message.type, getattr(content, "text", None) or getattr(content, "message", None)))
    return flat


def test_runner_output_becomes_messages_and_turn_signals_in_order() -> None:
    data = lines(
        {"type": "ready"},
        {"type": "agent_started"},
        envelope(init("s1")),
        envelope(text_event("hello", "u1")),
        envelope(result(0.25, 30, 7)),
        {"type": "agent_stopped"},
        {"type": "pong"},
    )
    out, pipeline = run(data)
    assert flatten(out) == [
        TurnSignal(STARTED),
        ("init", None),
        ("text", "hello"),
        ("cost", None),
        TurnSignal(STOPPED),
    ]
    stats = pipeline.stats
    assert stats.control_lines == 4
    assert stats.messages == 3
    assert stats.lines == stats.events == 7
    assert pipeline.usage.cost_usd == 0.25
    assert (pipeline.usage.input_tokens, pipeline.usage.output_tokens) == (30, 7)
    assert pipeline.recognized


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096, PIECE_SIZE + 1])
def test_output_does_not_depend_on_chunking(chunk: int) -> None:
    events = [envelope(text_event("x" * (i % 50), f"u{i}")) for i in range(400)]
    data = lines({"type": "ready"}, {"type": "agent_started"}, *events, {"type": "agent_stopped"})
    whole, _ = run(data)
    pieces, _ = run(data, chunk)
    assert flatten(pieces) == flatten(whole)


def test_a_failed_turn_yields_one_error_message_and_the_failed_signal() -> None:
    data = lines({"type": "ready"}, {"type": "agent_started"}, {"type": "agent_error", "message": "boom"})
    out, _ = run(data)
    assert flatten(out) == [TurnSignal(STARTED), ("error", "boom"), TurnSignal(FAILED, "boom")]


def test_a_failure_the_provider_already_reported_is_not_repeated_as_a_message() -> None:
    data = lines(
        {"type": "ready"},
        {"type": "agent_started"},
        envelope(result(0.5, 1, 2, is_error=True, text="API Error: 500")),
        {"type": "agent_error", "message": "Claude Code turn failed: API Error: 500"},
        {"type": "agent_started"},
        {"type": "agent_error"},
    )
    out, _ = run(data)
    assert flatten(out) == [
        TurnSignal(STARTED),
        ("cost", None),
        ("error", "API Error: 500"),
        TurnSignal(FAILED, "Claude Code turn failed: API Error: 500"),
        TurnSignal(STARTED),
        ("error", "the turn failed"),
        TurnSignal(FAILED, "the turn failed"),
    ]


def test_a_bare_error_is_a_provider_event_until_the_stream_speaks_the_protocol() -> None:
    codex_error = {"type": "error", "message": "Reconnecting... 1/5"}
    out, pipeline = run(lines(codex_error), provider="codex")
    assert flatten(out) == [("error", "Reconnecting... 1/5")]
    assert pipeline.stats.control_lines == 0
    out, pipeline = run(lines({"type": "ready"}, {"type": "error", "message": "unknown command 'x'"}))
    assert flatten(out) == [("error", "unknown command 'x'")]
    assert pipeline.stats.control_lines == 2


def test_bad_lines_are_counted_and_skipped() -> None:
    data = (
        lines({"type": "ready"}, envelope(text_event("a", "u1")))
        + b"not json\n\xff\xfe\n[1]\nnull\n"
        + lines({"type": "agent_event", "event": "not an object"}, envelope(text_event("b", "u2")))
    )
    out, pipeline = run(data)
    assert flatten(out) == [("text", "a"), ("text", "b")]
    assert pipeline.stats.invalid_lines == 5


def test_the_first_oversized_read_is_logged_with_its_size_and_later_ones_only_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline = Pipeline(new_stream_adapter("claude"), max_line_size=200, max_pending=1000, label="t")
    reads = (b"x" * 250 + b"\n" + b"y" * 220 + b"\n", b"z" * 300 + b"\n", lines(envelope(text_event("a", "u1"))))
    with caplog.at_level("WARNING", logger="sidecar_sync.pipeline"):
        for data in reads:
            list(pipeline.receive_data(data))
        pipeline.receive_eof()
    drops = [r.getMessage() for r in caplog.records]
    assert drops == ["t: dropped 2 lines of 470 bytes (max_line_size is 200); further oversized lines are only counted"]
    assert pipeline.stats.oversized_lines == 3 and pipeline.stats.messages == 1


def test_cost_is_the_latest_per_agent_session_summed_over_sessions_and_tokens_add_up() -> None:
    data = lines(
        init("a"),
        result(0.1, 10, 1),
        result(0.3, 20, 2),  # a's running total: 0.3
        init("b"),
        result(0.5, 40, 4),
        init("a"),
        result(0.4, 80, 8),  # a's running total is now 0.4
    )
    _, pipeline = run(data)
    usage = pipeline.usage
    assert usage.cost_usd == pytest.approx(0.4 + 0.5)
    assert (usage.input_tokens, usage.output_tokens) == (150, 15)
    assert usage.sessions == {"a", "b"}
    assert usage.cost_reported


def test_unusable_usage_values_are_ignored_and_counted() -> None:
    data = lines(result(-1.0, -5, 3), result(0.2, 4, 4))
    _, pipeline = run(data)
    usage = pipeline.usage
    assert usage.cost_usd == 0.2
    assert (usage.input_tokens, usage.output_tokens) == (4, 7)
    assert usage.invalid_values == 2


def test_a_stream_with_no_cost_has_an_unknown_cost() -> None:
    _, pipeline = run(lines(text_event("hi", "u1")))
    assert not pipeline.usage.cost_reported
    assert pipeline.usage.cost_usd == 0.0


def test_recognized_only_once_a_line_is_understood() -> None:
    _, pipeline = run(lines({"type": "query", "sessionId": "s", "prompt": "echoed back by cat"}))
    assert not pipeline.recognized
    _, pipeline = run(lines(text_event("hi", "u1")))
    assert pipeline.recognized
    _, pipeline = run(lines({"type": "pong"}))
    assert pipeline.recognized


def test_an_unterminated_last_line_comes_out_at_eof() -> None:
    data = lines({"type": "ready"}) + orjson.dumps(envelope(text_event("tail", "u1")))
    pipeline = Pipeline(new_stream_adapter("claude"))
    assert flatten(list(pipeline.receive_data(data))) == []
    assert flatten(pipeline.receive_eof()) == [("text", "tail")]


def test_each_turn_signal_carries_what_its_messages_said() -> None:
    data = lines(
        {"type": "ready"},
        {"type": "agent_started"},
        envelope(init("s1")),
        envelope(text_event("hello", "u1")),
        envelope(result(0.25, 30, 7)),
        {"type": "agent_stopped"},
        {"type": "agent_started"},
        envelope(result(0.5, 1, 2, is_error=True, text="API Error: 529 overloaded")),
        {"type": "agent_error", "message": "Claude Code turn failed", "outcome": "api_error"},
    )
    out, _ = run(data)
    first, second = [item for item in out if isinstance(item, TurnSignal) and item.kind != STARTED]
    assert first.evidence is not None and second.evidence is not None
    assert first.evidence.messages == 3 and first.evidence.completed and first.evidence.usage_seen
    assert first.evidence.outcome("stopped") == ("success", None)
    assert second.outcome == "api_error"
    assert second.evidence.messages == 2  # the cost and the error the failed result makes
    assert second.evidence.outcome("failed") == ("api_error", "API Error: 529 overloaded")


# ---- a reader's reused buffer, any chunking: exactly the line-by-line results ----------------

_LINES = st.one_of(
    st.builds(
        lambda i, text: orjson.dumps(
            {
                "type": "stream_event",
                "uuid": f"d{i}",
                "event": {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            }
        ),
        st.integers(0, 10**6),
        st.text(max_size=40),
    ),
    st.builds(lambda i: orjson.dumps(envelope(text_event(f"t{i}", f"u{i}"))), st.integers(0, 10**6)),
    st.sampled_from(
        [
            orjson.dumps({"type": "agent_started"}),
            orjson.dumps({"type": "agent_stopped"}),
            orjson.dumps({"type": "ready"}),
            orjson.dumps({"type": "agent_event", "event": [1]}),
            orjson.dumps(envelope({**result(0.5, 3, 4), "uuid": "r1"})),
            b'{"type":"x","uuid":"odd"',
            b"null",
            b'{"a":"\xff"}',
            b"   ",
            b"x" * 300,  # over the cap below
        ]
    ),
)


def _outputs(out: list[Any]) -> list[Any]:
    """Batches as their messages without timestamps (and not split by batch), signals as they are."""
    flat: list[Any] = []
    for item in out:
        if isinstance(item, TurnSignal):
            evidence = item.evidence
            said = None if evidence is None else [getattr(evidence, name) for name in evidence.__slots__]
            flat.append((item.kind, item.message, item.outcome, said))
        else:
            flat += [{**m.to_dict(), "timestamp": None} for m in item[0]]
    return flat


@given(
    st.lists(_LINES, max_size=60),
    st.sampled_from(sorted(name for name, cls in TWINS.items() if cls is not None)),
    st.sampled_from([1, 64, 700, pipeline_module.PIECE_SIZE]),
    st.sampled_from([7, 256, None]),
    st.data(),
)
def test_a_reused_read_buffer_gives_the_results_of_one_line_at_a_time(
    raw: list[bytes], twin: str, piece_size: int, window: int | None, data: st.DataObject
) -> None:
    """Either framer twin, any piece size and framing window, reads cut anywhere into one
    reused buffer: the outputs, counters and usage of feeding one line at a time."""
    stream = b"".join(line + b"\n" for line in raw)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts"))
    per_line = Pipeline(new_stream_adapter("claude"), max_line_size=200, max_pending=200)
    want: list[Any] = []
    for line in raw:
        want += per_line.receive_data(line + b"\n")
    want += per_line.receive_eof()
    with contextlib.ExitStack() as patches:
        patches.enter_context(mock.patch.object(decoder_module, "LineFramer", TWINS[twin]))
        patches.enter_context(mock.patch.object(pipeline_module, "PIECE_SIZE", piece_size))
        if window:
            patches.enter_context(patch_everywhere("FEED_WINDOW", window))
        pipeline = Pipeline(new_stream_adapter("claude"), max_line_size=200, max_pending=200)
        buffer = bytearray(len(stream))
        got: list[Any] = []
        for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            buffer[: end - start] = stream[start:end]
            got += pipeline.receive_data(memoryview(buffer)[: end - start])
            buffer[:] = b"\x00" * len(buffer)  # the reader reads into it again
        got += pipeline.receive_eof()
    assert _outputs(got) == _outputs(want)
    assert pipeline.stats == per_line.stats
    assert pipeline.usage.cost_usd == per_line.usage.cost_usd
    assert pipeline.usage.input_tokens == per_line.usage.input_tokens
