"""sidecar_sync.replay on real recordings: same messages as the adapters, any chunking, any wrapping."""

from __future__ import annotations

import dataclasses
import gzip
import io
import logging
import os
from pathlib import Path

import orjson
import pytest

from sidecar_sync.errors import InvalidOptionError, ReplayError, UnknownProviderError
from sidecar_sync.framer import FEED_WINDOW
from sidecar_sync.replay import Replay, ReplaySummary, replay
from sidecar_sync.replay._source import ReplayOptions, SourceReplay
from tests.replay.conftest import (
    ALL_FILES,
    CLAUDE_FILES,
    DATA,
    as_runner_output,
    expected_messages,
    load_events,
    shape,
)


@pytest.mark.parametrize("name", ALL_FILES)
def test_file_gives_the_adapters_messages(name: str) -> None:
    path = DATA / name
    got = list(Replay(path))
    assert shape(got) == shape(expected_messages(path))
    assert got, "every recording has messages"


@pytest.mark.parametrize(
    "name", ["claude_partial_messages.jsonl", "claude_stream_input.jsonl", "codex_api_error_401.jsonl"]
)
@pytest.mark.parametrize("chunk_size", [1, 7, 100, 4096])
def test_chunking_does_not_change_messages(name: str, chunk_size: int) -> None:
    path = DATA / name
    assert shape(list(Replay(path, chunk_size=chunk_size))) == shape(list(Replay(path)))


@pytest.mark.parametrize("name", ALL_FILES)
def test_summary_counts(name: str) -> None:
    path = DATA / name
    events = load_events(path)
    messages = expected_messages(path)
    summary = replay(path)
    assert summary.bytes == path.stat().st_size
    assert summary.lines == summary.events == len(events)
    assert summary.invalid_lines == summary.oversized_lines == summary.control_lines == 0
    assert summary.messages == len(messages)
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.type] = counts.get(m.type, 0) + 1
    assert summary.by_type == counts
    costs = [m.content for m in messages if m.type == "cost"]
    assert summary.input_tokens == sum(c.input_tokens for c in costs)
    assert summary.output_tokens == sum(c.output_tokens for c in costs)
    reported = [c.total_cost_usd for c in costs if c.total_cost_usd is not None]
    assert summary.cost_usd == (reported[-1] if reported else 0.0)
    assert summary.cost_reported is bool(reported) is summary.files[0].cost_reported
    assert len(summary.files) == 1 and summary.files[0].source == str(path)


def test_iteration_and_summary_agree() -> None:
    rep = Replay([DATA / n for n in ALL_FILES])
    count = sum(1 for _ in rep)
    summary = rep.summary
    assert count == summary.messages == sum(summary.by_type.values())
    assert summary == replay([DATA / n for n in ALL_FILES])


@pytest.mark.parametrize("name", CLAUDE_FILES)
def test_a_summary_counts_stream_events_without_building_their_messages(name: str) -> None:
    iterated = Replay(DATA / name)
    every = sum(1 for _ in iterated)
    summary_only = SourceReplay(DATA / name, ReplayOptions(), summary_only=True)
    built = sum(len(batch) for batch in summary_only.batches(None))
    streams = sum(1 for e in load_events(DATA / name) if e.get("type") == "stream_event")
    assert built == every - streams
    assert summary_only.summary == iterated.summary.files[0]


# -- runner output: agent_event wrappers and protocol lines ------------------------------


@pytest.mark.parametrize("name", ALL_FILES)
def test_runner_output_is_unwrapped(name: str, tmp_path: Path) -> None:
    raw = DATA / name
    wrapped = tmp_path / "runner.ndjson"
    wrapped.write_bytes(as_runner_output(load_events(raw)))
    assert shape(list(Replay(wrapped))) == shape(list(Replay(raw)))
    summary = replay(wrapped)
    assert summary.control_lines == 4  # ready, agent_started, agent_stopped, pong
    assert summary.events == summary.lines == len(load_events(raw)) + 4
    assert summary.by_type == replay(raw).by_type


def test_runner_errors_become_error_messages(tmp_path: Path) -> None:
    events = load_events(DATA / "claude_tool_bash.jsonl")
    body = as_runner_output(events[:2])
    body += b'{"type":"error","message":"unknown command \'bogus\'"}\n'
    body += b'{"type":"agent_event","event":"not an object"}\n'
    body += b'{"type":"agent_error","sessionId":"s1","message":"claude exited with code 1"}\n'
    body += b'{"type":"agent_error","sessionId":"s1"}\n'
    path = tmp_path / "runner.ndjson"
    path.write_bytes(body)
    messages = list(Replay(path))
    errors = [m.content.message for m in messages if m.type == "error"]
    assert errors == ["unknown command 'bogus'", "claude exited with code 1", "the turn failed"]
    # the malformed wrapper is skipped and counted invalid, as a live session does
    assert not [m for m in messages if m.type == "unknown"]
    summary = replay(path)
    assert summary.control_lines == 4 + 3
    assert summary.invalid_lines == 1
    # order is kept: the two wrapped events' messages come first
    first = shape(expected_messages(DATA / "claude_tool_bash.jsonl"))[:2]
    assert shape(messages[:2]) == first


def test_codex_error_events_are_not_protocol_lines() -> None:
    path = DATA / "codex_api_error_401.jsonl"
    assert b'"type":"error"' in path.read_bytes()
    summary = replay(path)
    assert summary.control_lines == 0
    assert shape(list(Replay(path))) == shape(expected_messages(path))


# -- bad lines -----------------------------------------------------------------------------


def test_invalid_and_oversized_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    good = (DATA / "claude_tool_bash.jsonl").read_bytes()
    big = b'{"type":"user","pad":"' + b"x" * 5000 + b'"}\n'
    body = b"not json\n" + good[: good.index(b"\n") + 1] + b"null\n[1,2]\n" + big + b"\xff\xfe\n" + good
    path = tmp_path / "bad.ndjson"
    path.write_bytes(body)
    summary = replay(path, max_line_size=4096)
    good_lines = good.count(b"\n")
    assert summary.invalid_lines == 4
    assert summary.oversized_lines == 1
    assert summary.dropped_bytes == len(big) - 1
    assert summary.events == good_lines + 1
    assert summary.lines == summary.events + summary.invalid_lines
    assert shape(list(Replay(path, max_line_size=4096))[-5:]) == shape(list(Replay(DATA / "claude_tool_bash.jsonl")))


def test_unterminated_last_line_is_replayed(tmp_path: Path) -> None:
    body = (DATA / "codex_command.jsonl").read_bytes().rstrip(b"\n")
    path = tmp_path / "cut.ndjson"
    path.write_bytes(body)
    assert shape(list(Replay(path))) == shape(list(Replay(DATA / "codex_command.jsonl")))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert list(Replay(path)) == []
    summary = replay(path)
    assert summary.bytes == summary.lines == summary.messages == 0
    assert summary.errors == []


# -- gzip --------------------------------------------------------------------------------


def test_gzip_is_detected_by_magic(tmp_path: Path) -> None:
    raw = DATA / "claude_partial_messages.jsonl"
    for name in ("t.jsonl.gz", "t.jsonl"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(raw.read_bytes()))
        assert shape(list(Replay(path))) == shape(list(Replay(raw)))
        assert replay(path).bytes == raw.stat().st_size


def test_concatenated_gzip_members_and_padding(tmp_path: Path) -> None:
    a, b = DATA / "claude_tool_bash.jsonl", DATA / "claude_partial_messages.jsonl"
    path = tmp_path / "two.gz"
    path.write_bytes(gzip.compress(a.read_bytes()) + b"\0\0\0" + gzip.compress(b.read_bytes()) + b"\0" * 10)
    expected = shape(list(Replay([a, b])))
    for chunk_size in (5, 4096, 2**20):
        assert shape(list(Replay(path, chunk_size=chunk_size))) == expected
    summary = replay(path)
    assert summary.bytes == a.stat().st_size + b.stat().st_size
    assert summary.by_type == replay([a, b]).by_type


def test_gzip_from_a_stream() -> None:
    raw = (DATA / "codex_command.jsonl").read_bytes()
    stream = io.BytesIO(gzip.compress(raw))
    assert shape(list(Replay(stream))) == shape(list(Replay(DATA / "codex_command.jsonl")))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"plain text, not gzip\n", "not a gzip file"),
        (gzip.compress(b'{"type":"x"}\n' * 1000)[:-20], "ends early"),
        (gzip.compress(b'{"type":"x"}\n' * 1000)[:30] + b"\x00garbage" * 50, "bad gzip data"),
        (gzip.compress(b'{"type":"x"}\n')[:-8] + b"\x00\x00\x00\x00\x99\x00\x00\x00", "bad gzip data"),
    ],
    ids=["not-gzip", "truncated", "corrupt", "bad-crc"],
)
def test_bad_gzip_names_the_file(tmp_path: Path, body: bytes, reason: str) -> None:
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(body)
    with pytest.raises(ReplayError, match=reason) as info:
        replay(path)
    assert str(path) in str(info.value)
    assert info.value.source == str(path)
    assert isinstance(info.value, OSError)


def test_gzip_output_is_bounded_per_step(tmp_path: Path) -> None:
    # 64 MiB of one repeated line compresses to ~64 KiB; it must come out in
    # chunk_size pieces, not as one buffer.
    line = b'{"type":"stream_event","event":{"type":"ping"}}\n'
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        for _ in range(64):
            f.write(line * (2**20 // len(line)))
    sizes: list[int] = []
    rep = Replay(path, chunk_size=2**20, progress=lambda done, total: sizes.append(done))
    total = 0
    for batch in rep.batches():
        total += len(batch)
        assert len(batch) <= 2**20 // len(line) + 1
    assert total == rep.summary.lines == 64 * (2**20 // len(line))


# -- sources and errors ------------------------------------------------------------------


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(ReplayError, match=r"nope\.jsonl: cannot open: No such file") as info:
        replay(missing)
    assert info.value.source == str(missing)


def test_directory_names_it(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="cannot (open|read)"):
        replay(tmp_path)


def test_errors_skip_goes_on(tmp_path: Path) -> None:
    good = DATA / "claude_tool_bash.jsonl"
    missing = tmp_path / "nope.jsonl"
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(good.read_bytes())[:-30])
    summary = replay([good, missing, broken, good], errors="skip")
    assert [f.error is not None for f in summary.files] == [False, True, True, False]
    assert len(summary.errors) == 2 and "nope.jsonl" in summary.errors[0] and "broken.gz" in summary.errors[1]
    single = replay(good)
    # the truncated gzip still contributes what it decoded before the error
    assert summary.events >= 2 * single.events
    assert summary.files[0] == single.files[0]


def test_skipped_sources_are_logged_as_errors_word_for_word(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = DATA / "claude_tool_bash.jsonl"
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(good.read_bytes())[:-30])
    with caplog.at_level(logging.DEBUG, logger="sidecar_sync.replay"):
        summary = replay([tmp_path / "nope.jsonl", broken], errors="skip")
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("sidecar_sync.replay")]
    assert len(summary.errors) == 2
    assert records == [(logging.ERROR, text) for text in summary.errors]


def test_iteration_error_keeps_what_was_read(tmp_path: Path) -> None:
    good = DATA / "claude_tool_bash.jsonl"
    rep = Replay([good, tmp_path / "nope.jsonl"])
    seen = []
    with pytest.raises(ReplayError):
        for m in rep:
            seen.append(m)  # noqa: PERF402 - a loop: what came before the error is kept
    assert len(seen) == rep.summary.messages == replay(good).messages


def test_streams_and_paths_mix() -> None:
    a = DATA / "claude_tool_bash.jsonl"
    b = DATA / "codex_command.jsonl"
    mixed = replay([io.BytesIO(a.read_bytes()), b])
    paths = replay([a, b])
    assert [f.source for f in mixed.files] == ["<BytesIO>", str(b)]
    assert [dataclasses.replace(f, source="") for f in mixed.files] == [
        dataclasses.replace(f, source="") for f in paths.files
    ]
    assert mixed.by_type == paths.by_type and mixed.messages == paths.messages


class _Trickle(io.RawIOBase):
    """A pipe-like stream handing out a few bytes per read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(self._step, len(buffer), len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_trickling_stream(step: int) -> None:
    raw = (DATA / "claude_partial_messages.jsonl").read_bytes()
    for data in (raw, gzip.compress(raw)):
        stream = io.BufferedReader(_Trickle(data, step), buffer_size=step)
        assert shape(list(Replay(stream))) == shape(list(Replay(DATA / "claude_partial_messages.jsonl")))


def test_text_stream_is_refused() -> None:
    with pytest.raises(ReplayError, match="binary mode"):
        replay(io.StringIO('{"type":"x"}\n'))  # type: ignore[arg-type]  # the mistake under test


def test_options_are_checked() -> None:
    with pytest.raises(UnknownProviderError):
        Replay(DATA / "codex_plain.jsonl", provider="nope")
    with pytest.raises(InvalidOptionError):
        Replay(DATA / "codex_plain.jsonl", chunk_size=0)
    with pytest.raises(InvalidOptionError):
        Replay(DATA / "codex_plain.jsonl", chunk_size=64 * 2**20)
    with pytest.raises(InvalidOptionError):
        Replay(DATA / "codex_plain.jsonl", errors="ignore")
    with pytest.raises(InvalidOptionError):
        replay(DATA / "codex_plain.jsonl", jobs=0)
    with pytest.raises(InvalidOptionError):
        Replay(DATA / "codex_plain.jsonl", max_line_size=100, max_pending=10)


def test_explicit_provider() -> None:
    path = DATA / "codex_command.jsonl"
    assert shape(list(Replay(path, provider="codex"))) == shape(expected_messages(path, "codex"))
    # the claude adapter does not know codex events: they come out as unknown
    assert {m.type for m in Replay(path, provider="claude")} == {"unknown"}


def test_custom_adapter_callable(tmp_path: Path) -> None:
    from sidecar_sync.messages import AgentMessage, TextContent

    def adapter(event):  # type: ignore[no-untyped-def]
        return [AgentMessage(str(event.get("n")), "text", TextContent(str(event.get("n"))), None, 0)]

    path = tmp_path / "custom.ndjson"
    path.write_bytes(b"".join(orjson.dumps({"n": i}) + b"\n" for i in range(10)))
    assert [m.content.text for m in Replay(path, provider=adapter)] == [str(i) for i in range(10)]


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    paths = [DATA / n for n in CLAUDE_FILES]
    calls: list[tuple[int, int | None]] = []
    replay(paths, chunk_size=1000, progress=lambda done, total: calls.append((done, total)))
    total = sum(p.stat().st_size for p in paths)
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    stream_calls: list[tuple[int, int | None]] = []
    replay(io.BytesIO(paths[0].read_bytes()), progress=lambda done, total: stream_calls.append((done, total)))
    assert stream_calls[-1] == (paths[0].stat().st_size, None)


def test_summary_to_dict_is_json() -> None:
    summary = replay([DATA / n for n in ALL_FILES])
    data = orjson.loads(orjson.dumps(summary.to_dict()))
    assert data["messages"] == summary.messages
    assert data["file_count"] == len(ALL_FILES) == len(data["files"])
    assert [f["source"] for f in data["files"]] == [str(DATA / n) for n in ALL_FILES]
    assert data["by_type"] == summary.by_type
    assert data["cost_usd"] == summary.cost_usd and summary.cost_reported
    assert "cost_reported" not in data and "sources" not in data
    brief = summary.to_dict(per_file=False)
    assert "files" not in brief and brief["file_count"] == len(ALL_FILES)


@pytest.mark.parametrize(
    ("names", "cost", "reported"),
    [
        (["codex_api_error_401.jsonl"], None, False),  # no cost message at all
        (["codex_command.jsonl", "codex_plain.jsonl"], None, False),  # tokens, never a price
        (["claude_api_error_500.jsonl"], 0.0, True),  # a price of zero is a price
        (["codex_command.jsonl", "claude_tool_bash.jsonl"], 0.000376, True),  # any file with a price
    ],
)
def test_unknown_cost_is_kept_apart_from_zero(names: list[str], cost: float | None, reported: bool) -> None:
    summary = replay([DATA / n for n in names])
    assert summary.cost_reported is reported
    assert summary.cost_usd == (cost or 0.0)  # the float stays a float either way
    data = summary.to_dict()
    assert data["cost_usd"] == cost
    assert [f["cost_usd"] for f in data["files"]] == [
        f.cost_usd if f.cost_reported else None for f in summary.files
    ]
    assert [f.cost_reported for f in summary.files] == [n.startswith("claude") for n in names]


def test_paths_may_be_str_or_pathlike() -> None:
    path = DATA / "codex_plain.jsonl"
    assert replay(str(path)) == replay(path)
    assert replay(os.fsencode(str(path)).decode()) == replay([path])
    assert isinstance(replay([]), ReplaySummary) and replay([]).messages == 0


@pytest.mark.parametrize("variant", ["small", "mixed", "flood"])
def test_realistic_transcript_counts(variant: str) -> None:
    from bench.transcript import build_block

    data, info = build_block(variant, 6 * 2**20, seed=5)
    summary = replay(io.BytesIO(data))
    assert summary.lines == summary.events == info.lines
    assert summary.invalid_lines == summary.oversized_lines == 0
    assert summary.by_type["cost"] == info.counts["result"]
    assert summary.by_type["init"] == info.counts["system/init"]
    assert summary.by_type["tool_call"] == info.counts["assistant/tool_use"]
    assert summary.by_type["tool_result"] == info.counts["user/tool_result"]
    assert summary.sessions == 1
    results = [e for e in map(orjson.loads, data.splitlines()) if e["type"] == "result"]
    assert len(results) == info.counts["result"]
    assert summary.cost_usd == results[-1]["total_cost_usd"]
    assert summary.input_tokens == sum(r["usage"]["input_tokens"] for r in results)


def test_summary_during_iteration() -> None:
    from bench.transcript import build_block

    data, _ = build_block("small", 2 * 2**20, seed=9)
    rep = Replay(io.BytesIO(data))
    seen = 0
    for batch in rep.batches():
        seen += len(batch)
        now = rep.summary
        assert now.messages == seen == sum(now.by_type.values())
        assert now.events <= now.lines and now.bytes <= len(data)
    assert seen > 1000 and rep.summary == replay(io.BytesIO(data))


@pytest.mark.parametrize("chunk_size", [True, "4", 0, FEED_WINDOW + 1])
def test_a_chunk_size_that_is_no_int_in_range_is_refused_by_name(chunk_size: object) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        replay(DATA / "claude_tool_bash.jsonl", chunk_size=chunk_size)  # type: ignore[arg-type]
    assert str(caught.value) == f"chunk_size must be an int between 1 and {FEED_WINDOW}, got {chunk_size!r}"


def test_the_largest_chunk_size_is_allowed() -> None:
    path = DATA / "claude_tool_bash.jsonl"
    assert replay(path, chunk_size=FEED_WINDOW) == replay(path, chunk_size=1)


def test_a_sources_bad_lines_are_logged_under_its_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b'{"type":"system","subtype":"init","session_id":"s"}\nnot json\n')
    with caplog.at_level(logging.WARNING, logger="sidecar_sync.decoder"):
        assert replay(path).invalid_lines == 1
    (message,) = [r.getMessage() for r in caplog.records if r.name == "sidecar_sync.decoder"]
    assert message.startswith(f"{path}: skipped invalid line 1 (") and message.endswith("): b'not json'")


def test_a_merge_took_no_time_unless_told() -> None:
    part = replay(DATA / "claude_tool_bash.jsonl").files[0]
    assert ReplaySummary.merge([part]).elapsed == 0.0
    assert ReplaySummary.merge([part], elapsed=2.5).elapsed == 2.5
