"""Sources that are missing, or hold no transcript at all, are errors for that source."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sidecar_sync.errors import ReplayError, ReplaySourceMissingError
from sidecar_sync.replay import replay
from tests.replay.conftest import DATA


def test_a_missing_file_is_also_a_file_not_found_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError) as info:
        replay([missing])
    exc = info.value
    assert isinstance(exc, ReplaySourceMissingError) and isinstance(exc, ReplayError)
    assert exc.filename == str(missing) and exc.source == str(missing)
    assert str(exc) == f"{missing}: cannot open: No such file or directory"


def test_the_missing_file_error_survives_pickling(tmp_path: Path) -> None:
    """Worker processes send it back pickled: type, message, filename and source come through."""
    missing = str(tmp_path / "nope.jsonl")
    exc = ReplaySourceMissingError(f"{missing}: cannot open: No such file or directory", source=missing)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is ReplaySourceMissingError
    assert (str(back), back.filename, back.source, back.errno) == (str(exc), missing, missing, exc.errno)


def test_a_missing_file_with_jobs_is_the_same_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    files = [DATA / "codex_command.jsonl", missing, DATA / "claude_tool_bash.jsonl"]
    with pytest.raises(ReplaySourceMissingError) as info:
        replay(files, jobs=2, start_method="spawn")
    assert info.value.filename == str(missing)


def test_a_source_in_which_no_line_parsed_is_an_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.jsonl"
    text.write_bytes(b"just some text\nand more\n[1, 2]\n")
    with pytest.raises(ReplayError, match=r"notes\.jsonl: no line parsed as a JSON object \(3 lines\)"):
        replay([text])
    skipped = replay([DATA / "codex_command.jsonl", text], errors="skip")
    assert skipped.files[1].error is not None and skipped.files[1].invalid_lines == 3
    assert skipped.files[0] == replay([DATA / "codex_command.jsonl"]).files[0]


def test_oversized_lines_only_is_an_error_and_an_empty_file_is_not(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"x": "' + b"y" * 2000 + b'"}\n')
    with pytest.raises(ReplayError, match="no line parsed") as raised:
        replay([big], max_line_size=1000)
    assert raised.value.source == str(big)
    big.write_bytes(b"garbage\n" + big.read_bytes() * 2)  # a bad line and two oversized ones
    with pytest.raises(ReplayError, match=r"no line parsed as a JSON object \(3 lines\)"):
        replay([big], max_line_size=1000)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    assert replay([empty]).files[0].error is None


def test_one_good_line_among_garbage_is_enough(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b"garbage\n" + (DATA / "codex_command.jsonl").read_bytes().splitlines(keepends=True)[0])
    summary = replay([mixed])
    assert summary.invalid_lines == 1 and summary.events == 1
