"""The replay package: one concept per module, each small; the public names stay where they were."""

from __future__ import annotations

from pathlib import Path

import sidecar_sync.replay

#: The most lines a module of the package may have.
MAX_LINES = 500


def test_every_module_is_small() -> None:
    package = Path(sidecar_sync.replay.__file__).parent
    sizes = {path.name: len(path.read_text().splitlines()) for path in package.glob("*.py")}
    assert set(sizes) == {"__init__.py", "_api.py", "_pool.py", "_source.py", "_sources.py", "_summary.py"}
    assert all(lines < MAX_LINES for lines in sizes.values()), sizes


def test_the_public_names() -> None:
    from sidecar_sync.replay import (
        DEFAULT_CHUNK_SIZE,
        FileSummary,
        ProgressCallback,
        Replay,
        ReplaySummary,
        Source,
        replay,
        source_name,
    )

    assert set(sidecar_sync.replay.__all__) == {
        "Replay",
        "ReplaySummary",
        "FileSummary",
        "Source",
        "ProgressCallback",
        "replay",
        "source_name",
        "DEFAULT_CHUNK_SIZE",
    }
    assert callable(replay) and isinstance(Replay, type) and DEFAULT_CHUNK_SIZE > 0
    assert {ReplaySummary.__name__, FileSummary.__name__} == {"ReplaySummary", "FileSummary"}
    assert Source is not None and ProgressCallback is not None and source_name("a.jsonl") == "a.jsonl"


def test_the_top_level_names_are_the_same_objects() -> None:
    import sidecar_sync

    assert sidecar_sync.Replay is sidecar_sync.replay.Replay
    assert sidecar_sync.ReplaySummary is sidecar_sync.replay.ReplaySummary
    assert sidecar_sync.FileSummary is sidecar_sync.replay.FileSummary
