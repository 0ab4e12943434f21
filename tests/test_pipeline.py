"""The sans-IO core: bytes in, messages and turn signals out, with no process, thread or file."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from types import SimpleNamespace
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar_sync import decoder as decoder_module
from sidecar_sync import pipeline as pipeline_module
from sidecar_sync.accounting import Usage
from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.adapters._common import count_or_none
from sidecar_sync.messages import AgentMessage, CostContent, ErrorContent, InitContent
from sidecar_sync.pipeline import (
    BAD_ENVELOPE_LOG_LIMIT,
    FAILED,
    PIECE_SIZE,
    STARTED,
    STOPPED,
    PermissionSignal,
    Pipeline,
    TurnSignal,
)
from sidecar_sync.turns import TurnEvidence
from tests.framer.twins import TWINS, patch_everywhere
from tests.messages.conftest import DATA


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


def test_a_dropped_line_is_logged_before_the_turn_signal_after_it(caplog: pytest.LogCaptureFixture) -> None:
    """Whoever acts on the turn's end (a caller whose wait() returned) already sees the warning."""
    pipeline = Pipeline(new_stream_adapter("claude"), max_line_size=200, max_pending=1000, label="t")
    data = lines({"type": "agent_started"}) + b"x" * 250 + b"\n" + lines({"type": "agent_stopped"})
    logged_at_signal = []
    with caplog.at_level("WARNING", logger="sidecar_sync.pipeline"):
        for item in pipeline.receive_data(data):
            if isinstance(item, TurnSignal) and item.kind == STOPPED:
                logged_at_signal.append(len(caplog.records))
    assert logged_at_signal == [1]
    assert caplog.records[0].getMessage().startswith("t: dropped a line of 250 bytes")


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


@pytest.mark.parametrize(
    ("tokens_in", "invalid", "counted"),
    [
        (5, 0, 5),
        (7.0, 0, 7),  # a float that is a whole count
        (5.5, 1, 0),  # not a count
        (0.1, 1, 0),
        (-5, 1, 0),
        ("5", 1, 0),
        (True, 1, 0),
        ([5], 1, 0),
        (1e30, 1, 0),  # beyond any int: read as 0, and counted
        (-1e30, 1, 0),
    ],
)
def test_each_kind_of_unusable_token_count_is_ignored_and_counted_once(
    tokens_in: Any, invalid: int, counted: int
) -> None:
    _, pipeline = run(lines(result(0.1, tokens_in, 3)))
    usage = pipeline.usage
    assert usage.invalid_values == invalid
    assert (usage.input_tokens, usage.output_tokens) == (counted, 3)
    assert usage.cost_usd == 0.1


def test_a_count_is_a_whole_number_that_an_int64_holds() -> None:
    assert [count_or_none(v) for v in (3, 3.0, -2.0, 3.5, True, "3", None)] == [3, 3, -2, None, None, None, None]
    assert count_or_none(-(2.0**63)) == -(2**63)  # the least int64
    assert count_or_none(2.0**63) is None  # one past the greatest: orjson could not write it again


@pytest.mark.parametrize(
    ("provider", "turn_end"),
    [
        ("codex", {"type": "turn.completed", "usage": {"input_tokens": "IN", "output_tokens": 3}}),
        ("ollama", {"type": "chunk", "done": True, "done_reason": "stop", "prompt_eval_count": "IN", "eval_count": 3}),
    ],
)
@pytest.mark.parametrize(("tokens_in", "invalid", "counted"), [(5, 0, 5), (7.0, 0, 7), (5.5, 1, 0), ("5", 1, 0)])
def test_every_provider_ignores_and_counts_a_token_count_that_is_not_a_whole_number(
    provider: str, turn_end: dict[str, Any], tokens_in: Any, invalid: int, counted: int
) -> None:
    line = orjson.loads(orjson.dumps(turn_end).replace(b'"IN"', orjson.dumps(tokens_in)))
    _, pipeline = run(lines(line), provider=provider)
    usage = pipeline.usage
    assert (usage.input_tokens, usage.output_tokens, usage.invalid_values) == (counted, 3, invalid)


def test_a_nan_cost_is_not_json_so_its_line_is_invalid() -> None:
    data = lines(init("a")) + b'{"type":"result","subtype":"success","total_cost_usd":NaN}\n' + lines(result(0.2, 1, 1))
    _, pipeline = run(data)
    assert pipeline.stats.invalid_lines == 1
    assert pipeline.usage.invalid_values == 0 and pipeline.usage.cost_usd == 0.2


@pytest.mark.parametrize("cost", [float("nan"), float("inf"), -0.01, True, "0.5", None])
def test_a_cost_a_custom_adapter_passes_through_is_checked_by_the_accounting(cost: Any) -> None:
    """An adapter that hands ``CostContent`` whatever the runner said (no float_or_none)."""
    usage = Usage()
    usage.note_cost(CostContent(total_cost_usd=0.3))
    usage.note_cost(CostContent(total_cost_usd=cost, input_tokens=-1, output_tokens=True))
    assert usage.invalid_values == (2 if cost is None else 3)
    assert usage.cost_usd == 0.3 and usage.cost_reports == 1
    assert (usage.input_tokens, usage.output_tokens) == (0, 0)


@pytest.mark.parametrize("cost", ["0.5", True])
def test_a_non_numeric_claude_cost_is_counted(cost: Any) -> None:
    _, pipeline = run(lines(result(cost, 1, 1)))
    assert pipeline.usage.cost_reported is False
    assert pipeline.usage.invalid_values == 1


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


# -- an agent_event line without an object event (found unchecked by mutation testing) ----
#
# Such a line still proves a runner speaks the protocol, and its warnings stop after a
# limit so a broken runner cannot flood the log.


def run_labelled(data: bytes, label: str = "stream") -> tuple[list[Any], Pipeline]:
    pipeline = Pipeline(new_stream_adapter("claude"), label=label)
    out = list(pipeline.receive_data(data)) + list(pipeline.receive_eof())
    return out, pipeline


def test_a_stream_without_a_label_is_called_stream_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(new_stream_adapter("claude"))
    with caplog.at_level(logging.WARNING, logger="sidecar_sync.pipeline"):
        list(pipeline.receive_data(lines({"type": "agent_event", "event": 5})))
    assert [r.getMessage()[:8] for r in caplog.records] == ["stream: "]


def test_a_bad_envelope_is_runner_output_so_a_later_error_line_is_the_runners() -> None:
    bad = {"type": "agent_event", "event": "not an object"}
    out, pipeline = run_labelled(lines(bad, {"type": "error", "message": "boom"}))
    assert pipeline.recognized
    ((messages, _bill),) = out
    assert [(m.type, m.content) for m in messages] == [("error", ErrorContent("boom"))]
    assert (pipeline.stats.invalid_lines, pipeline.stats.control_lines) == (1, 1)
    # the same error line from a stream that never spoke the protocol is the provider's event
    out, pipeline = run_labelled(lines({"type": "error", "message": "boom"}))
    assert not pipeline.recognized
    ((messages, _bill),) = out
    assert [(m.type, m.content) for m in messages] == [("unknown", {"type": "error", "message": "boom"})]


def test_a_bad_envelope_alone_marks_the_stream_recognized() -> None:
    _, pipeline = run_labelled(lines({"type": "agent_event"}))
    assert pipeline.recognized
    assert pipeline.stats.invalid_lines == 1


def test_bad_envelopes_warn_up_to_the_limit_then_go_to_debug(caplog: pytest.LogCaptureFixture) -> None:
    events = [{"type": "agent_event", "event": n} for n in range(BAD_ENVELOPE_LOG_LIMIT + 2)]
    with caplog.at_level(logging.DEBUG, logger="sidecar_sync.pipeline"):
        _, pipeline = run_labelled(lines(*events), label="s-7")
    records = [r for r in caplog.records if r.name == "sidecar_sync.pipeline"]
    assert [r.levelno for r in records] == [logging.WARNING] * BAD_ENVELOPE_LOG_LIMIT + [logging.DEBUG] * 2
    assert [r.getMessage() for r in records] == [
        f"s-7: skipped agent_event without an object 'event': {event!r}" for event in events
    ]
    assert pipeline.stats.invalid_lines == len(events)


def test_a_bad_envelopes_log_line_is_cut_at_120_characters(caplog: pytest.LogCaptureFixture) -> None:
    event = {"type": "agent_event", "event": ["x" * 300]}
    with caplog.at_level(logging.WARNING, logger="sidecar_sync.pipeline"):
        run_labelled(lines(event))
    (record,) = [r for r in caplog.records if r.name == "sidecar_sync.pipeline"]
    assert record.getMessage() == "stream: skipped agent_event without an object 'event': " + repr(event)[:120]


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ({"type": "error", "message": 5}, "the runner reported an error"),
        ({"type": "error", "message": ""}, "the runner reported an error"),
        ({"type": "error", "message": "no such session"}, "no such session"),
        ({"type": "agent_error", "message": ["x"]}, "the turn failed"),
        ({"type": "agent_error"}, "the turn failed"),
    ],
)
def test_the_runners_error_lines_become_error_messages_with_text_id_and_time(line: dict[str, Any], text: str) -> None:
    out, _ = run(lines({"type": "ready"}, line))
    (messages, _bill), *_signals = out
    (message,) = messages
    assert (message.type, message.content, message.parent_id) == ("error", ErrorContent(text), None)
    assert type(message.id) is str and message.id
    assert type(message.timestamp) is int and message.timestamp > 0


# -- usage: costs belong to the agent session the last init named --------------------------


@pytest.mark.parametrize("content", [object(), InitContent(None), InitContent(5)])  # type: ignore[arg-type]
def test_an_init_without_a_session_id_adds_no_session(content: object) -> None:
    usage = Usage()
    usage.note_init(InitContent("s1"))
    usage.note_cost(CostContent(total_cost_usd=0.5))
    usage.note_init(content)  # costs from here on belong to no named session
    usage.note_cost(CostContent(total_cost_usd=0.25))
    usage.note_cost(object())  # not a cost at all: nothing counted, nothing raised
    assert usage.sessions == {"s1"}
    assert (usage.cost_usd, usage.cost_reports, usage.invalid_values) == (0.75, 2, 0)


@pytest.mark.parametrize(
    ("line", "message", "outcome"),
    [
        ({"type": "agent_error", "message": 5, "outcome": 5}, "the turn failed", None),
        ({"type": "agent_error", "message": "", "outcome": "limit"}, "the turn failed", "limit"),
        ({"type": "agent_error", "message": "quota", "outcome": ""}, "quota", ""),
    ],
)
def test_a_failed_turns_signal_keeps_only_string_messages_and_outcomes(
    line: dict[str, Any], message: str, outcome: str | None
) -> None:
    out, _ = run(lines({"type": "ready"}, {"type": "agent_started"}, line))
    signals = [item for item in out if isinstance(item, TurnSignal)]
    assert [(s.kind, s.message, s.outcome) for s in signals] == [(STARTED, None, None), (FAILED, message, outcome)]


def test_messages_before_a_run_of_events_are_kept_when_the_run_is_adapted() -> None:
    data = lines(
        {"type": "ready"},
        {"type": "error", "message": "first the runner's error"},
        envelope(text_event("then the agent's text", "u1")),
        {"type": "agent_stopped"},
    )
    out, _ = run(data)
    assert flatten(out) == [
        ("error", "first the runner's error"),
        ("text", "then the agent's text"),
        TurnSignal(STOPPED),
    ]


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_the_bills_add_up_to_the_bytes_received(chunk: int | None) -> None:
    data = lines(
        {"type": "ready"},
        {"type": "agent_started"},
        envelope(text_event("one", "u1")),
        {"type": "agent_stopped"},
        {"type": "agent_started"},
        envelope(text_event("two", "u2")),
        envelope(result(0.25, 30, 7)),
        {"type": "agent_stopped"},
        envelope(text_event("three", "u3")),  # a last batch, billed with everything before it
    )
    out, pipeline = run(data, chunk)
    bills = [item[1] for item in out if not isinstance(item, TurnSignal)]
    assert len(bills) >= 3  # in one piece, the first batch carries the whole bill, the others 0
    assert sum(bills) == len(data) == pipeline.stats.bytes


@pytest.mark.parametrize("chunk", [None, 1, 7, 1000])
def test_the_bills_of_bare_provider_events_add_up_to_the_bytes_received(chunk: int | None) -> None:
    data = lines(*[text_event(f"line {n}", f"u{n}") for n in range(500)])  # > 2 pieces in one feed
    out, pipeline = run(data, chunk)
    bills = [item[1] for item in out]
    assert len(bills) > 1 and sum(bills) == len(data) == pipeline.stats.bytes


def test_permission_and_recording_marker_lines_keep_every_line_after_them_in_order() -> None:
    request = {"type": "permission_request", "request_id": "r1", "tool_name": "Bash", "input": {"command": "ls"}}
    cancel = {"type": "permission_cancel", "request_id": "r1"}
    data = lines(
        {"type": "sidecar.recording", "version": 1},
        envelope(text_event("one", "u1")),
        request,
        envelope(text_event("two", "u2")),
        {"type": "sidecar.prompt", "text": "go on"},
        envelope(text_event("three", "u3")),
        cancel,
        envelope(text_event("four", "u4")),
    )
    out, _ = run(data)  # one piece
    assert [type(item).__name__ for item in out] == ["tuple", "PermissionSignal", "tuple", "PermissionSignal", "tuple"]
    assert out[1] == PermissionSignal("permission_request", request)
    assert out[3] == PermissionSignal("permission_cancel", cancel)
    texts = [[m.content.text for m in item[0]] for item in out if type(item) is tuple]
    assert texts == [["one"], ["two", "three"], ["four"]]


def test_a_turns_evidence_counts_the_error_messages_the_runner_made() -> None:
    data = lines(
        {"type": "ready"},
        {"type": "agent_started"},
        envelope(text_event("working", "u1")),
        {"type": "error", "message": "a tool relay broke"},
        {"type": "agent_error", "message": "claude exited with code 1"},
    )
    out, pipeline = run(data)
    (failed,) = [item for item in out if isinstance(item, TurnSignal) and item.kind == FAILED]
    assert failed.evidence is not None and failed.evidence.messages == 3  # the text and both errors
    assert pipeline.stats.messages == 3


def test_usage_counts_each_value_it_cannot_use() -> None:
    usage = Usage()
    usage.note_cost(CostContent(total_cost_usd=-1.0))
    usage.note_cost(CostContent(total_cost_usd=float("inf")))
    assert (usage.invalid_values, usage.cost_reports, usage.cost_reported) == (2, 0, False)
    # the provider's own usage object: a count that is not a finite number is one more
    raw = {"input_tokens": "7", "output_tokens": float("nan"), "cache_read_input_tokens": "x"}
    usage.note_cost(CostContent(total_cost_usd=0.5, input_tokens=3, output_tokens=4, usage=raw))
    assert (usage.invalid_values, usage.cost_reports) == (4, 1)
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (3, 4, 0.5)
    usage.note_cost(CostContent(usage={"input_tokens": None, "output_tokens": 2.0}))
    assert usage.invalid_values == 4  # absent values and whole numbers are fine
    usage.note_cost(CostContent(usage={"input_tokens": 2.5, "eval_count": -0.5}))
    assert usage.invalid_values == 6  # a count is a whole number (Ollama's names too)


def test_the_agent_version_comes_from_init_messages_that_name_one() -> None:
    inits = [InitContent("s", agent_version="Claude Code 2.1"), InitContent("s", agent_version=""),
             InitContent("s", agent_version=5), {"not": "an InitContent"}, InitContent("s")]  # type: ignore[arg-type]  # fmt: skip
    contents = iter(inits)

    def adapter(event: dict[str, Any]) -> list[AgentMessage]:
        return [AgentMessage(f"m{event['n']}", "init", next(contents), None, 1)]

    pipeline = Pipeline(new_stream_adapter(adapter))
    assert pipeline.agent_version is None  # none named yet
    versions = []
    for n in range(len(inits)):
        list(pipeline.receive_data(lines({"n": n})))
        versions.append(pipeline.agent_version)
    assert versions == ["Claude Code 2.1"] * len(inits)  # the others name none: the first stands


def test_usage_adds_only_whole_non_negative_token_counts() -> None:
    usage = Usage()
    usage.note_cost(CostContent(input_tokens=0, output_tokens=0))
    assert (usage.input_tokens, usage.output_tokens, usage.invalid_values) == (0, 0, 0)
    usage.note_cost(CostContent(input_tokens=2.5, output_tokens="3"))  # type: ignore[arg-type]
    usage.note_cost(CostContent(input_tokens=-1, output_tokens=None))  # type: ignore[arg-type]
    assert (usage.input_tokens, usage.output_tokens, usage.invalid_values) == (0, 0, 3)
    usage.note_cost(CostContent(input_tokens=7, output_tokens=9))
    assert (usage.input_tokens, usage.output_tokens, usage.invalid_values) == (7, 9, 3)


# -- a turn's evidence and the outcome it gives (turns.TurnEvidence) --------------------


def test_a_turn_that_stopped_with_nothing_against_it_succeeded() -> None:
    """No cost and no error: the runner's word that the turn stopped is enough."""
    evidence = TurnEvidence()
    assert evidence.outcome("stopped") == ("success", None)
    assert evidence.outcome("exited") == ("crashed", None)  # the runner went away instead
    assert evidence.outcome("exited", "runner exited with code 1") == ("crashed", "runner exited with code 1")


def test_retry_notices_are_counted_and_do_not_fail_the_turn() -> None:
    """Codex's "Reconnecting... n/m" errors: the CLI retries by itself."""
    evidence = TurnEvidence()
    for attempt in (1, 2, 3):
        evidence.note_error(ErrorContent(f"Reconnecting... {attempt}/5"))
    assert evidence.retries == 3 and evidence.last_error is None
    assert evidence.outcome("stopped") == ("success", None)
    evidence.note_error(ErrorContent("stream disconnected"))
    assert evidence.retries == 3
    assert evidence.outcome("stopped") == ("error", "stream disconnected")  # never got over it


def test_a_failed_turn_the_runner_did_not_name_is_classified_by_its_text() -> None:
    """Without an outcome from the runner, a text naming an endpoint failure is ``api_error``."""
    assert TurnEvidence().outcome("failed", "HTTP 503 service unavailable") == (
        "api_error",
        "HTTP 503 service unavailable",
    )
    assert TurnEvidence().outcome("failed", "the tool crashed") == ("error", "the tool crashed")
    assert TurnEvidence().outcome("failed", "429 too many", hint="success") == ("api_error", "429 too many")
    evidence = TurnEvidence()
    evidence.note_error(ErrorContent("connection refused"))
    assert evidence.outcome("failed") == ("api_error", "connection refused")  # the agent's last error
    assert evidence.outcome("failed", "exited with code 1") == ("api_error", "exited with code 1")
    evidence = TurnEvidence()
    evidence.note_error(ErrorContent("the patch did not apply"))
    # the agent's own error decides the class; the runner's reason is the text
    assert evidence.outcome("failed", "API Error: 500") == ("error", "API Error: 500")


def test_an_error_the_agent_never_got_over_fails_a_turn_that_never_ended() -> None:
    """The runner went away after an error: the error decides, not a crash."""
    evidence = TurnEvidence()
    evidence.note_error(ErrorContent("the patch did not apply"))
    assert evidence.outcome("exited", "runner exited with code 1") == ("error", "the patch did not apply")
    evidence.note_error(ErrorContent("401 Unauthorized"))
    assert evidence.outcome("exited") == ("api_error", "401 Unauthorized")


GAVE_UP = "the model gave up"


@pytest.mark.parametrize(
    ("cost", "outcome"),
    [
        (CostContent(is_error=True, result=GAVE_UP, api_error_status=529), ("api_error", GAVE_UP)),
        (CostContent(is_error=True, result=GAVE_UP, terminal_reason="api_error"), ("api_error", GAVE_UP)),
        (CostContent(is_error=True, result=GAVE_UP, terminal_reason="other"), ("error", GAVE_UP)),
        (CostContent(is_error=True, result="", errors=["one", "two"]), ("error", "one; two")),
        (CostContent(is_error=True, subtype="error_in_a_tool"), ("error", "turn failed (error_in_a_tool)")),
        (CostContent(is_error=True, terminal_reason="aborted", subtype="x"), ("error", "turn failed (aborted)")),
    ],
)
def test_a_failed_cost_names_the_outcome_whatever_the_end(cost: CostContent, outcome: tuple[str, str]) -> None:
    """An API failure is known by its status or terminal reason, not only by its text."""
    evidence = TurnEvidence()
    evidence.note_cost(cost)
    assert not evidence.completed and evidence.usage_seen
    assert evidence.outcome("stopped") == evidence.outcome("failed") == evidence.outcome("exited") == outcome


def test_contents_a_custom_adapter_makes_are_read_by_field_name() -> None:
    """Error and cost messages whose contents are not the library's classes: what they lack is absent."""
    contents = iter([
        {"message": "a dict, not an ErrorContent"},  # no attribute: no error text
        ErrorContent(5),  # type: ignore[arg-type]
        SimpleNamespace(),  # a cost without is_error: the turn completed
        SimpleNamespace(message="the adapter's own error"),
        SimpleNamespace(is_error=True),  # a failed cost and nothing else
    ])  # fmt: skip
    kinds = iter(["error", "error", "cost", "error", "cost"])

    def adapter(event: dict[str, Any]) -> list[AgentMessage]:
        return [AgentMessage(f"m{event['n']}", next(kinds), next(contents), None, 1)]

    pipeline = Pipeline(new_stream_adapter(adapter))
    out = list(pipeline.receive_data(lines({"type": "agent_started"}, *({"n": n} for n in range(2)))))
    out += pipeline.receive_data(lines({"n": 2}, {"type": "agent_stopped"}, {"type": "agent_started"}, {"n": 3}))
    out += pipeline.receive_data(lines({"type": "agent_stopped"}, {"type": "agent_started"}, {"n": 4}))
    out += pipeline.receive_data(lines({"type": "agent_stopped"}))
    first, second, third = [item.evidence for item in out if isinstance(item, TurnSignal) and item.kind == STOPPED]
    assert first is not None and second is not None and third is not None
    assert first.last_error is None and first.completed
    assert first.outcome("stopped") == ("success", None)
    assert second.outcome("stopped") == ("error", "the adapter's own error")
    assert third.outcome("stopped") == ("error", "turn failed (error)")


# -- a tally: counting messages by type instead of building them ----------------------


def _recorded(provider: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((DATA / provider).glob("*.jsonl"))]


def _as_turn(data: bytes) -> bytes:
    """The recording as the claude runner prints it: enveloped, between turn lines."""
    events = [orjson.loads(line) for line in data.splitlines() if line.strip()]
    return lines({"type": "ready"}, {"type": "agent_started"}, *map(envelope, events), {"type": "agent_stopped"})


def _fed(pipeline: Pipeline, data: bytes, chunk: int) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(data), chunk):
        out += pipeline.receive_data(data[start : start + chunk])
    return out + pipeline.receive_eof()


def _state(pipeline: Pipeline, out: list[Any]) -> tuple[Any, ...]:
    signals = [(s.kind, s.message, s.outcome, vars_of(s.evidence)) for s in out if isinstance(s, TurnSignal)]
    usage = pipeline.usage
    totals = (usage.cost_usd, usage.cost_reported, usage.input_tokens, usage.output_tokens, sorted(usage.sessions))
    return pipeline.stats, totals, pipeline.recognized, pipeline.agent_version, signals


def vars_of(evidence: TurnEvidence | None) -> dict[str, Any] | None:
    return None if evidence is None else {name: getattr(evidence, name) for name in TurnEvidence.__slots__}


@pytest.mark.parametrize("provider", ["claude", "auto"])
@pytest.mark.parametrize("shape", ["bare", "enveloped"])
@pytest.mark.parametrize("chunk", [7, 4096, 1 << 20])
def test_a_tallying_pipeline_counts_what_it_does_not_build_and_changes_nothing_else(
    provider: str, shape: str, chunk: int
) -> None:
    data = b"".join(_as_turn(d) if shape == "enveloped" else d for d in _recorded("claude"))
    full = Pipeline(new_stream_adapter(provider))
    full_out = _fed(full, data, chunk)
    tally: Counter[str] = Counter()
    tallying = Pipeline(new_stream_adapter(provider), tally=tally)
    out = _fed(tallying, data, chunk)

    assert _state(tallying, out) == _state(full, full_out)
    built = [m for item in out if type(item) is tuple for m in item[0]]
    every = [m for item in full_out if type(item) is tuple for m in item[0]]
    assert tally["text"] and len(built) < len(every)
    assert tally + Counter(m.type for m in built) == Counter(m.type for m in every)


def test_a_tally_sets_recognized_only_for_a_type_other_than_unknown() -> None:
    unknown = {"type": "stream_event", "event": {"type": "message_stop"}}
    text = {"type": "stream_event", "event": {"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "hi"}}, "uuid": "u", "api_message_id": "m",
            "parent_tool_use_id": None}  # fmt: skip
    for events, recognized in (([unknown], False), ([unknown, text], True)):
        tally: Counter[str] = Counter()
        pipeline = Pipeline(new_stream_adapter("claude"), tally=tally)
        assert list(pipeline.receive_data(lines(*events))) == []  # nothing built
        assert pipeline.recognized is recognized
        assert pipeline.stats.messages == len(events) == tally.total()


def test_an_adapter_that_cannot_tally_builds_every_message() -> None:
    data = b"".join(_recorded("claude"))
    tally: Counter[str] = Counter()
    custom = Pipeline(new_stream_adapter(lambda event: parse_message("claude", event)), tally=tally)
    built = [m.type for item in _fed(custom, data, 4096) for m in item[0]]
    assert tally == Counter()
    assert built == [m.type for item in run(data, 4096)[0] for m in item[0]] and "text" in built
