"""bench/peers.py: the correctness verdicts the comparison table relies on."""

from __future__ import annotations

import pytest

from bench import peers
from bench.transcript import build_block

MiB = 2**20


@pytest.fixture(scope="module")
def big_info() -> peers.TranscriptInfo:
    return build_block("small", 16 * MiB, seed=1, big_line=12 * MiB)[1]


def scenario(**kw: object) -> peers.Scenario:
    base: dict[str, object] = {"name": "t", "title": "t", "variant": "small", "size": 16 * MiB, "repeat": 2}
    return peers.Scenario(**(base | kw))  # type: ignore[arg-type]


def test_expected_counts_follow_each_peers_rules(big_info: peers.TranscriptInfo) -> None:
    c = peers.CONTENDERS
    every_line = big_info.lines * 3
    assert peers.expected_per_session(c["plain"], big_info, 3) == every_line
    assert peers.expected_per_session(c["sdk"], big_info, 3) == every_line
    # the claude adapter gives one message per line of these transcripts; a 10 MiB cap drops the big line
    assert peers.expected_per_session(c["naive"], big_info, 3) == every_line
    assert peers.expected_per_session(c["sidecar_c"], big_info, 3) == every_line - 3
    assert peers.expected_per_session(c["seed_bun"], big_info, 3) == every_line - 3


def test_check_accepts_exact_counts_and_flags_the_rest(big_info: peers.TranscriptInfo) -> None:
    c = peers.CONTENDERS["naive"]
    s = scenario(sessions=2)
    want = peers.expected_per_session(c, big_info, 2)
    assert peers.check(c, s, big_info, {"messages": [want, want], "errors": []}) == "ok"
    short = peers.check(c, s, big_info, {"messages": [want, want - 1], "errors": []})
    assert f"message count {want - 1} != expected {want} in 1/2" in short
    assert "1 sessions reported, 2 expected" in peers.check(c, s, big_info, {"messages": [want], "errors": []})
    failed = peers.check(c, s, big_info, {"messages": [want, want], "errors": ["s-1: boom"]})
    assert failed == "s-1: boom"


def test_ttfm_expects_one_count_per_turn(big_info: peers.TranscriptInfo) -> None:
    c = peers.CONTENDERS["plain"]
    s = scenario(mode="ttfm", count=3, repeat=1)
    assert peers.check(c, s, big_info, {"messages": [big_info.lines] * 3}) == "ok"


def test_errors_from_many_sessions_are_folded() -> None:
    errors = ["sdk-0: CLIJSONDecodeError: too big", "sdk-1: CLIJSONDecodeError: too big", "exit code 1: x y"]
    assert peers._dedupe(errors) == ["2 sessions: CLIJSONDecodeError: too big", "exit code 1: x y"]


def test_failure_tags() -> None:
    cell = peers.Cell(runs=[{}, {}], verdicts=["ok", "sdk-0: JSON message exceeded maximum buffer size of 1048576"])
    assert not cell.ok()
    assert peers.failure_tag(cell) == "**fails: line > 1 MiB** (1/2 runs)"
    assert peers.failure_tag(peers.Cell(runs=[{}], verdicts=["message count 1 != expected 2"])).startswith(
        "**wrong message count**"
    )
    assert peers.Cell(runs=[{}], verdicts=["ok"]).ok()
    assert not peers.Cell().ok()
