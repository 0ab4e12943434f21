"""Fixtures of the messages tests: recorded and real-shape provider events.

``tests/data/claude`` and ``tests/data/codex`` are recordings of the real CLIs'
stdout (Claude Code 2.1.330/2.1.197, Codex 0.169.0, recorded offline against
fake model servers; ``docs/real-clis.md`` describes what they show). ``tests/data/*/shapes_*.jsonl``
are events the recordings lack, written in the real shape; ``tests/data/README.md``
and the tests that use them name the source of every shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

DATA = Path(__file__).resolve().parent.parent / "data"


def load_events(relative: str) -> list[dict[str, Any]]:
    """The JSON objects of one NDJSON file under ``tests/data``."""
    with open(DATA / relative, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


@pytest.fixture
def events():
    """``events("claude/claude_plain.jsonl")`` -> that file's events."""
    return load_events
