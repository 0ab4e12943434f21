"""The CLI package: one concept per module, each small; the old entry points stay."""

from __future__ import annotations

from pathlib import Path

import sidecar_sync.cli

#: The most lines a module of the package may have.
MAX_LINES = 500


def test_every_module_is_small() -> None:
    package = Path(sidecar_sync.cli.__file__).parent
    sizes = {
        path.name: len(path.read_text().splitlines()) for path in package.glob("*.py")
    }
    assert set(sizes) >= {
        "__init__.py",
        "_doctor.py",
        "_render.py",
        "_replay.py",
        "_run.py",
    }
    assert all(lines < MAX_LINES for lines in sizes.values()), sizes


def test_the_public_names() -> None:
    from sidecar_sync.cli import build_parser, format_summary, main

    assert callable(main) and callable(build_parser) and callable(format_summary)
    commands = [
        build_parser().parse_args(argv).command
        for argv in (["run", "x"], ["replay", "f"], ["doctor"])
    ]
    assert commands == ["run", "replay", "doctor"]
