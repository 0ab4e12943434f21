"""The replay summary's arithmetic: failed turns counted once, costs per agent session, merges in order.

The transcripts here are small and built by hand in Claude Code's ``stream-json``
shape, with every cost a binary fraction (exact as a float) and every token count
different from every other, so that a swapped, doubled, dropped or maxed value
changes the result.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync.replay import FileSummary, Replay, ReplaySummary, replay
from tests.replay.conftest import as_runner_output


def init(session: str) -> dict[str, Any]:
    """Claude's ``system/init`` line: later costs belong to ``session``."""
    return {"type": "system", "subtype": "init", "session_id": session, "model": "m", "cwd": "/w", "tools": []}


def text(words: str) -> dict[str, Any]:
    """An assistant text block."""
    return {"type": "assistant", "message": {"content": [{"type": "text", "text": words}]}}


def result(cost: float, tokens_in: int, tokens_out: int, *, failed: bool = False) -> dict[str, Any]:
    """Claude's ``result`` line: the session's running total cost and this turn's tokens."""
    return {
        "type": "result",
        "subtype": "error_during_execution" if failed else "success",
        "is_error": failed,
        "total_cost_usd": cost,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        "num_turns": 1,
        "result": "the model gave up" if failed else "done",
    }


def ndjson(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def types(path: Path) -> Counter[str]:
    """The messages of a file by type, counted from iteration (not from the summary)."""
    return Counter(m.type for m in Replay(path))


# -- failed turns: one error message each ----------------------------------------------


def failed_turns(tmp_path: Path) -> Path:
    """Runner output with two failed turns: one the provider did not report, one it did."""
    body = b"".join(
        orjson.dumps(line) + b"\n"
        for line in [
            {"type": "ready"},
            {"type": "agent_started", "sessionId": "s1"},
            {"type": "agent_event", "sessionId": "s1", "event": init("A")},
            {"type": "agent_event", "sessionId": "s1", "event": text("working")},
            # the CLI died mid-turn: no result line, so the runner's reason is the only error
            {"type": "agent_error", "sessionId": "s1", "message": "claude exited with code 1"},
            {"type": "agent_started", "sessionId": "s1"},
            {"type": "agent_event", "sessionId": "s1", "event": result(0.25, 19, 6, failed=True)},
            # the provider already said the turn failed: the runner's line adds no second error
            {"type": "agent_error", "sessionId": "s1", "message": "the turn failed"},
            {"type": "agent_started", "sessionId": "s1"},
            {"type": "agent_event", "sessionId": "s1", "event": result(0.5, 23, 8)},
            {"type": "agent_stopped", "sessionId": "s1"},
        ]
    )
    path = tmp_path / "failed-turns.ndjson"
    path.write_bytes(body)
    return path


def test_each_failed_turn_is_one_error_message(tmp_path: Path) -> None:
    path = failed_turns(tmp_path)
    errors = [m.content.message for m in Replay(path) if m.type == "error"]
    assert errors == ["claude exited with code 1", "the model gave up"]
    summary = replay(path)
    assert summary.by_type == {"init": 1, "text": 1, "cost": 2, "error": 2}
    assert summary.messages == 6 == sum(summary.by_type.values())
    assert Counter(summary.by_type) == types(path)
    assert summary.control_lines == 7  # ready, 3 agent_started, 2 agent_error, agent_stopped
    assert (summary.input_tokens, summary.output_tokens, summary.cost_usd) == (42, 14, 0.5)


def test_failed_turns_are_counted_once_in_workers_too(tmp_path: Path) -> None:
    one = failed_turns(tmp_path)
    two = tmp_path / "copy.ndjson"
    two.write_bytes(one.read_bytes())
    summary = replay([one, two], jobs=2)
    assert summary == replay([one, two])
    assert summary.by_type["error"] == 4 and summary.messages == 12 == sum(summary.by_type.values())


# -- cost: the latest of each agent session, added up -------------------------------------

#: Session A reports a running total twice, B once, then A is resumed and goes on.
#: Latest per session: A 0.375 + B 0.5 = 0.875. The largest report alone is 0.5,
#: the sum of every report 1.25, the last report 0.375, the first per session 0.625.
SESSIONS = [
    init("A"),
    text("first turn"),
    result(0.125, 11, 3),
    result(0.25, 5, 2),
    init("B"),
    result(0.5, 17, 7),
    init("A"),
    result(0.375, 13, 4),
]


@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "runner-output"])
def test_cost_is_the_sum_over_agent_sessions_of_their_latest_total(tmp_path: Path, wrapped: bool) -> None:
    path = tmp_path / "sessions.ndjson"
    if wrapped:
        path.write_bytes(as_runner_output(SESSIONS))
    else:
        ndjson(path, SESSIONS)
    summary = replay(path)
    assert summary.cost_usd == 0.875 and summary.cost_reported
    assert summary.sessions == 2
    assert summary.input_tokens == 46 and summary.output_tokens == 16
    assert summary.files[0].cost_usd == 0.875


def test_costs_add_up_over_files_and_workers(tmp_path: Path) -> None:
    a = ndjson(tmp_path / "a.ndjson", SESSIONS)
    b = ndjson(tmp_path / "b.ndjson", [init("C"), result(0.0625, 29, 9)])
    summary = replay([a, b], jobs=2)
    assert summary == replay([a, b])
    assert summary.cost_usd == 0.9375  # 0.875 + 0.0625
    assert (summary.input_tokens, summary.output_tokens) == (75, 25)
    assert [f.cost_usd for f in summary.files] == [0.875, 0.0625]
    assert summary.sessions == 3


# -- merge: in the order given, the same as worker processes --------------------------------


def test_merge_keeps_the_order_and_equals_a_parallel_replay(tmp_path: Path) -> None:
    # Sizes grow with the position, so the pool starts (and likely ends) with the
    # last file: only putting results back in order gives the sources' order.
    costs = [0.1, 0.2, 0.3]  # not binary fractions: float sums depend on the order
    paths = []
    for i, cost in enumerate(costs):
        lines = [init(f"S{i}")] + [text("x" * 200)] * (50 * (i + 1) ** 2) + [result(cost, 31 + i, 3 + i)]
        paths.append(ndjson(tmp_path / f"part-{i}.ndjson", lines))
    paths.append(tmp_path / "no-price.ndjson")
    ndjson(paths[-1], [init("S3"), text("no result line")])
    parts = [replay(p).files[0] for p in paths]
    merged = ReplaySummary.merge(parts)
    assert merged.files == parts
    assert [f.source for f in merged.files] == [str(p) for p in paths]
    assert merged.cost_usd == (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1
    assert merged.cost_reported and not merged.files[-1].cost_reported
    assert (merged.input_tokens, merged.output_tokens) == (96, 12)
    assert merged.by_type == dict(sum((Counter(f.by_type) for f in parts), Counter()))
    parallel = replay(paths, jobs=2)
    assert parallel == merged
    assert parallel.files == merged.files
    assert parallel.cost_usd == merged.cost_usd  # equality of summaries compares it too; say so
    assert ReplaySummary.merge(reversed(parts)).files == parts[::-1]  # merge never sorts


# -- the JSON form: every key once, copies never shared ----------------------------------


def two_files() -> ReplaySummary:
    first = FileSummary("a.jsonl", bytes=100, lines=4, events=4, messages=3, by_type={"init": 1, "text": 2},
                        cost_usd=0.5, cost_reported=True, input_tokens=11, output_tokens=7, sessions=1)  # fmt: skip
    second = FileSummary("b.jsonl", bytes=9, lines=1, events=0, invalid_lines=1, error="b.jsonl: truncated")
    return ReplaySummary.merge([first, second], elapsed=0.25)


def test_file_to_dict_has_each_field_once_and_a_copy_of_by_type() -> None:
    first = two_files().files[0]
    data = first.to_dict()
    assert data == {
        "source": "a.jsonl", "bytes": 100, "lines": 4, "events": 4, "control_lines": 0, "invalid_lines": 0,
        "oversized_lines": 0, "dropped_bytes": 0, "messages": 3, "by_type": {"init": 1, "text": 2},
        "cost_usd": 0.5, "input_tokens": 11, "output_tokens": 7, "sessions": 1, "error": None,
    }  # fmt: skip
    data["by_type"]["text"] = 99
    assert first.by_type == {"init": 1, "text": 2}


def test_summary_to_dict_has_each_total_once_elapsed_errors_and_files() -> None:
    summary = two_files()
    data = summary.to_dict()
    assert data == {
        "file_count": 2, "bytes": 109, "lines": 5, "events": 4, "control_lines": 0, "invalid_lines": 1,
        "oversized_lines": 0, "dropped_bytes": 0, "messages": 3, "by_type": {"init": 1, "text": 2},
        "cost_usd": 0.5, "input_tokens": 11, "output_tokens": 7, "sessions": 1,
        "elapsed": 0.25, "errors": ["b.jsonl: truncated"], "files": [f.to_dict() for f in summary.files],
    }  # fmt: skip
    data["by_type"]["init"] = 99
    assert summary.by_type == {"init": 1, "text": 2}
    assert set(summary.to_dict(per_file=False)) == set(data) - {"files"}


def test_file_copy_shares_no_counts() -> None:
    first = two_files().files[0]
    copy = first.copy()
    assert copy == first and copy is not first
    copy.by_type["init"] = 5
    assert first.by_type == {"init": 1, "text": 2}


# -- counts per type: the known ones in report order, the others after them, sorted -----------


def test_ordered_counts_drops_zeros_and_puts_unknown_types_last_sorted() -> None:
    from sidecar_sync.replay._summary import ordered_counts

    counts = {"zz_custom": 1, "text": 2, "error": 0, "aa_custom": 3, "gone_custom": 0, "init": 1}
    ordered = ordered_counts(counts)
    assert ordered == {"init": 1, "text": 2, "aa_custom": 3, "zz_custom": 1}
    assert list(ordered) == ["init", "text", "aa_custom", "zz_custom"]


# -- options: a bad limit is the caller's error, named as the pipeline names it ----------------


def test_a_bad_limit_is_an_invalid_option_with_the_pipelines_words(tmp_path: Path) -> None:
    from sidecar_sync.adapters import new_stream_adapter
    from sidecar_sync.errors import FramerError, InvalidOptionError
    from sidecar_sync.pipeline import Pipeline

    with pytest.raises(FramerError) as direct:
        Pipeline(new_stream_adapter("claude"), max_line_size=0)
    path = tmp_path / "a.ndjson"
    path.write_bytes(b"")
    with pytest.raises(InvalidOptionError) as caught:
        replay(path, max_line_size=0)
    assert str(caught.value) == str(direct.value) and str(direct.value)
