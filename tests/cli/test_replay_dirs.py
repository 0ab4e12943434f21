"""``sidecar-sync replay DIR``: a directory stands for the transcripts below it."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson

from sidecar_sync.cli._sources import EmptyDirectory, expand
from tests.cli.conftest import DATA, cli


def tree(root: Path) -> list[Path]:
    """A folder of transcripts (.jsonl, .ndjson, .gz, nested) among files that are not."""
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    names = sorted(DATA.glob("*.jsonl"))
    wanted = [
        root / "a" / "one.jsonl",
        root / "b" / "deep" / "two.ndjson",
        root / "b" / "three.jsonl.gz",
        root / "top.ndjson.gz",
    ]
    shutil.copy(names[0], wanted[0])
    shutil.copy(names[1], wanted[1])
    wanted[2].write_bytes(gzip.compress(names[2].read_bytes()))
    wanted[3].write_bytes(gzip.compress(names[3].read_bytes()))
    (root / "notes.txt").write_text("not a transcript\n")
    (root / "b" / "data.json").write_text("{}\n")
    (root / "b" / "deep" / "archive.gz").write_bytes(gzip.compress(b"{}\n"))
    return sorted(wanted)


def test_expand_picks_transcripts_recursively_in_sorted_order(tmp_path: Path) -> None:
    wanted = tree(tmp_path / "t")
    (tmp_path / "empty").mkdir()
    got = expand([str(tmp_path / "t"), "-", str(tmp_path / "empty"), "missing.jsonl"])
    assert got == [*map(str, wanted), "-", EmptyDirectory(str(tmp_path / "empty")), "missing.jsonl"]


def test_a_directory_replays_like_its_files_listed(tmp_path: Path) -> None:
    wanted = tree(tmp_path / "t")
    by_dir = cli("replay", "--summary", "--json", str(tmp_path / "t"))
    by_files = cli("replay", "--summary", "--json", *map(str, wanted))
    assert by_dir.returncode == by_files.returncode == 0, by_dir.stderr
    a, b = orjson.loads(by_dir.stdout), orjson.loads(by_files.stdout)
    a.pop("elapsed"), b.pop("elapsed")
    assert a == b and len(a["files"]) == 4


def test_an_empty_directory_is_an_error_for_that_argument_only(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing to replay\n")
    good = str(DATA / "codex_command.jsonl")
    done = cli("replay", "--summary", "--json", good, str(tmp_path / "empty"))
    assert done.returncode == 1
    data = orjson.loads(done.stdout)
    assert [f["source"] for f in data["files"]] == [good, str(tmp_path / "empty")]
    assert data["files"][1]["error"].startswith(f"{tmp_path / 'empty'}: no transcript files")
    assert data["errors"] == [data["files"][1]["error"]]
    assert b"no transcript files" in done.stderr and b"Traceback" not in done.stderr
