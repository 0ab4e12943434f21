"""bench/transcript.py: valid lines, real shapes, reproducible, sizes honoured."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.transcript import (
    KINDS,
    STREAM_KINDS,
    VARIANTS,
    TranscriptInfo,
    build_block,
    ensure,
    generate,
    parse_size,
    stream_kind,
)

REPO = Path(__file__).resolve().parents[2]


def kind_of(event: dict[str, Any]) -> str:
    t = event["type"]
    if t == "system":
        return f"system/{event['subtype']}"
    if t == "assistant":
        (block,) = event["message"]["content"]
        return f"assistant/{block['type']}"
    if t == "user":
        (block,) = event["message"]["content"]
        return f"user/{block['type']}"
    return t


def test_every_line_is_a_json_object_and_counts_match(built: Any) -> None:
    data, info, events = built
    assert data.endswith(b"\n")
    assert all(type(e) is dict for e in events)
    assert b"\n\n" not in data
    assert info.bytes == len(data)
    assert info.lines == len(events)
    counts = Counter(kind_of(e) for e in events)
    assert set(counts) <= set(KINDS)
    assert {k: v for k, v in info.counts.items() if v} == dict(counts)
    streams = Counter(stream_kind(e) for e in events if e["type"] == "stream_event")
    assert set(streams) <= set(STREAM_KINDS)
    assert {k: v for k, v in info.stream_counts.items() if v} == dict(streams)
    assert sum(streams.values()) == info.counts["stream_event"]
    lengths = [len(line) for line in data.splitlines()]
    assert info.max_line == max(lengths)
    assert info.lines_over_1mib == sum(n > 2**20 for n in lengths)
    assert info.lines_over_10mib == sum(n > 10 * 2**20 for n in lengths)


def test_turns_are_init_to_result_cycles_of_one_session(built: Any) -> None:
    _, info, events = built
    assert info.turns >= 2
    assert kind_of(events[0]) == "system/init"
    assert events[-1]["type"] == "result"
    in_turn = False
    for e in events:
        k = kind_of(e)
        if k == "system/init":
            assert not in_turn, "init inside a turn"
            in_turn = True
        elif k == "result":
            assert in_turn
            in_turn = False
        else:
            assert in_turn, f"{k} outside a turn"
    assert info.counts["system/init"] == info.counts["result"] == info.turns
    assert len({e["session_id"] for e in events}) == 1


def test_line_shapes_match_the_cli(built: Any) -> None:
    _, _, events = built
    seen: set[str] = set()
    current_msg = None
    open_tools: dict[str, str] = {}
    for e in events:
        k = kind_of(e)
        seen.add(k)
        if k == "system/init":
            assert {"cwd", "session_id", "tools", "model", "uuid", "claude_code_version"} <= e.keys()
        elif k == "stream_event":
            ev = e["event"]
            assert ev["type"] in {
                "message_start", "content_block_start", "content_block_delta", "content_block_stop",
                "message_delta", "message_stop",
            }  # fmt: skip
            if ev["type"] == "message_start":
                current_msg = ev["message"]["id"]
            assert e["api_message_id"] == current_msg
            assert e["parent_tool_use_id"] is None
            assert isinstance(e["uuid"], str) and len(e["uuid"]) == 36
        elif k.startswith("assistant/"):
            msg = e["message"]
            assert msg["id"] == current_msg, "assistant blocks share the streamed message id"
            assert msg["role"] == "assistant" and msg["stop_reason"] is None
            (block,) = msg["content"]
            if block["type"] == "tool_use":
                open_tools[block["id"]] = block["name"]
                assert isinstance(block["input"], dict) and block["input"]
            elif block["type"] == "text":
                assert block["text"]
            else:
                assert block["thinking"] and block["signature"]
            assert {"session_id", "uuid", "timestamp", "request_id"} <= e.keys()
        elif k == "user/tool_result":
            (block,) = e["message"]["content"]
            assert block["tool_use_id"] in open_tools
            name = open_tools.pop(block["tool_use_id"])
            tur = e["tool_use_result"]
            copy = tur["file"]["content"] if name == "Read" else tur["stdout"]
            assert block["content"].rstrip(" ") == copy.rstrip(" ")
        elif k == "result":
            assert e["subtype"] == "success" and e["is_error"] is False
            assert isinstance(e["total_cost_usd"], float)
            assert {"input_tokens", "output_tokens"} <= e["usage"].keys()
            assert e["num_turns"] >= 1
        elif k == "system/status":
            assert e["status"] == "requesting"
    assert not open_tools, "every tool_use gets its tool_result"
    assert {"system/init", "system/status", "stream_event", "assistant/text", "assistant/tool_use",
            "user/tool_result", "result"} <= seen  # fmt: skip


def test_mostly_small_events_by_count(built: Any) -> None:
    data, _, _ = built
    lengths = [len(line) for line in data.splitlines()]
    assert sum(200 <= n < 400 for n in lengths) / len(lengths) > 0.6


def test_tool_results_need_escaping_and_stay_valid(built: Any) -> None:
    _, _, events = built
    text = "".join(e["message"]["content"][0]["content"] for e in events if kind_of(e) == "user/tool_result")
    for ch in ('"', "\\", "\t", "\n", "\x1b", "é", "—", "日"):
        assert ch in text, ch


def test_variant_size_ranges() -> None:
    _, small = build_block("small", 8 * 2**20, seed=1)
    assert small.max_line < 4096
    _, mixed = build_block("mixed", 96 * 2**20, seed=1)
    assert mixed.lines_over_1mib >= 1
    assert mixed.max_line <= 5 * 2**20 + 1
    _, flood = build_block("flood", 48 * 2**20, seed=1)
    assert flood.max_line <= 1_000_000
    assert flood.lines_over_1mib == 0
    assert flood.bytes / flood.lines > 4 * small.bytes / small.lines


@pytest.mark.parametrize("variant", VARIANTS)
def test_seeded_is_reproducible(variant: str) -> None:
    a, ia = build_block(variant, 3 * 2**20, seed=11)
    b, ib = build_block(variant, 3 * 2**20, seed=11)
    c, _ = build_block(variant, 3 * 2**20, seed=12)
    assert a == b
    assert ia == ib
    assert a != c


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("size", [256 * 2**10, 2**20, 5 * 2**20 + 123, 40 * 2**20])
def test_size_is_honoured(variant: str, size: int) -> None:
    data, info = build_block(variant, size, seed=5)
    assert len(data) == info.bytes
    assert size - 64 * 2**10 <= len(data) <= size


def test_tiny_size_still_gives_one_whole_turn() -> None:
    data, info = build_block("small", 1000, seed=1)
    assert info.turns == 1
    events = [orjson.loads(x) for x in data.splitlines()]
    assert events[0]["subtype"] == "init" and events[-1]["type"] == "result"


def test_big_line_is_exact_and_counted() -> None:
    big = 12 * 2**20
    data, info = build_block("small", 16 * 2**20, seed=2, big_line=big)
    lines = data.splitlines()
    sized = [line for line in lines if len(line) == big]
    assert len(sized) == 1
    event = orjson.loads(sized[0])
    assert kind_of(event) == "user/tool_result"
    assert info.lines_over_10mib == info.lines_over_1mib == 1
    assert info.max_line == big
    assert info.lines_over(10 * 2**20) == 1
    assert info.lines_over(big) == 0


def test_expected_messages_matches_brute_force(built: Any) -> None:
    _, info, events = built

    def parse(e: dict[str, Any]) -> list[Any]:  # a toy adapter: one message per block, text deltas only
        if e["type"] == "stream_event":
            return [e] if stream_kind(e) == "text_delta" else []
        if e["type"] in ("assistant", "user"):
            return list(e["message"]["content"])
        return [e]

    assert info.expected_messages(parse) == sum(len(parse(e)) for e in events)
    assert info.expected_messages(parse, repeat=3) == 3 * sum(len(parse(e)) for e in events)
    over = info.lines_over_1mib
    assert info.expected_messages(parse, max_line=2**20) == sum(len(parse(e)) for e in events) - over


def test_generate_writes_file_meta_and_gzip(tmp_path: Path) -> None:
    out = tmp_path / "t.ndjson"
    info = generate(out, "mixed", 3 * 2**20, seed=4)
    data, same = build_block("mixed", 3 * 2**20, seed=4)
    assert out.read_bytes() == data
    assert TranscriptInfo.load(out) == info == same
    gz = tmp_path / "t.ndjson.gz"
    generate(gz, "mixed", 3 * 2**20, seed=4, gzip=True)
    assert gzip.decompress(gz.read_bytes()) == data
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_ensure_caches(tmp_path: Path) -> None:
    p1, i1 = ensure("small", 2**20, 9, cache_dir=tmp_path)
    mtime = p1.stat().st_mtime_ns
    p2, i2 = ensure("small", 2**20, 9, cache_dir=tmp_path)
    assert p1 == p2 and i1 == i2 and p2.stat().st_mtime_ns == mtime
    p1.write_bytes(b"truncated")  # a damaged cache entry is rebuilt
    p3, i3 = ensure("small", 2**20, 9, cache_dir=tmp_path)
    assert p3.stat().st_size == i3.bytes == i1.bytes


def test_cli(tmp_path: Path) -> None:
    out = tmp_path / "cli.ndjson"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "transcript.py"), "--variant", "small", "--size", "300K",
         "--seed", "2", "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == build_block("small", 300 * 2**10, seed=2)[0]
    assert "lines" in proc.stdout
    bad = subprocess.run(
        [sys.executable, str(REPO / "bench" / "transcript.py"), "--variant", "nope"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "nope" in bad.stderr


@pytest.mark.parametrize(("text", "n"), [("1G", 2**30), ("64M", 64 * 2**20), ("512k", 512 * 2**10), ("4096", 4096),
                                          ("1.5MiB", 3 * 2**19), ("2GB", 2 * 2**30)])  # fmt: skip
def test_parse_size(text: str, n: int) -> None:
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["", "G", "-1M", "abc", "0"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        build_block("huge", 2**20)
    with pytest.raises(ValueError, match="positive"):
        build_block("small", 0)


def test_expected_messages_with_the_claude_adapter(built: Any) -> None:
    from sidecar_sync.adapters import parse_message

    _, info, events = built

    def parse(e: dict[str, Any]) -> list[Any]:
        return parse_message("claude", e)

    assert info.expected_messages(parse) == sum(len(parse(e)) for e in events)
