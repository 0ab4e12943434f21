"""Fixtures of the replay tests: real CLI recordings and transcripts built from them.

``tests/data/replay/*.jsonl`` are real recordings (Claude Code 2.1.330, Codex
0.169.0, recorded offline against fake model servers; ``tests/data/README.md``
says how). Runner output (``agent_event`` wrappers around the same events plus
protocol lines) is built from them by :func:`as_runner_output`, the shape the
runners print (``runners/README.md``, "The wire protocol").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync.adapters import new_stream_adapter
from sidecar_sync.messages import AgentMessage

DATA = Path(__file__).resolve().parent.parent / "data" / "replay"

CLAUDE_FILES = sorted(p.name for p in DATA.glob("claude_*.jsonl"))
CODEX_FILES = sorted(p.name for p in DATA.glob("codex_*.jsonl"))
ALL_FILES = CLAUDE_FILES + CODEX_FILES


def load_events(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of an NDJSON file, parsed line by line (the slow, obvious way)."""
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def shape(messages: list[AgentMessage]) -> list[tuple[str, Any]]:
    """What must match between two runs: type and content (ids and timestamps may differ)."""
    out = []
    for m in messages:
        content = m.content if m.type == "unknown" else m.content.to_dict()
        out.append((m.type, content))
    return out


def expected_messages(path: Path, provider: str = "auto") -> list[AgentMessage]:
    """The messages a fresh stream adapter gives for the file's events, one event at a time."""
    adapter = new_stream_adapter(provider)
    out: list[AgentMessage] = []
    for event in load_events(path):
        out += adapter.adapt(event)
    return out


def as_runner_output(events: list[dict[str, Any]], *, session_id: str = "s1") -> bytes:
    """Wrap provider events the way a runner prints them (``runners/README.md``, "The wire protocol")."""
    lines: list[dict[str, Any]] = [{"type": "ready"}, {"type": "agent_started", "sessionId": session_id}]
    lines += [{"type": "agent_event", "sessionId": session_id, "event": e} for e in events]
    lines += [{"type": "agent_stopped", "sessionId": session_id}, {"type": "pong"}]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


@pytest.fixture
def data_dir() -> Path:
    return DATA
