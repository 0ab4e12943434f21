"""Fixtures for the hot-path tests: the manager area's managers and recorders, and a
runner that answers a query with a file of lines written by the test."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.manager.conftest import Recorder, make_manager, manager, no_leaks, recorder  # noqa: F401 - fixtures

LINES_RUNNER = str(Path(__file__).parent / "runners" / "lines.py")


def delta(i: int, *, wrapped: bool = False) -> dict[str, Any]:
    """A Claude text_delta stream event (~300 B) whose text is ``str(i)``."""
    event = {
        "type": "stream_event",
        "event": {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": str(i)}},
        "session_id": "12f08873-53be-4fa3-ac7a-f24ec8af67bd",
        "parent_tool_use_id": None,
        "uuid": f"00000000-0000-4000-8000-{i:012d}",
        "api_message_id": "msg_85fc69e0e159a33ed7d8fe2b",
    }
    return {"type": "agent_event", "event": event} if wrapped else event


def result(cost: float, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    """A Claude ``result`` line: running cost ``cost``, ``tokens_in`` in and ``tokens_out`` out."""
    return {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "total_cost_usd": cost,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        "uuid": f"result-{cost}",
    }


@pytest.fixture
def lines_provider(tmp_path: Path) -> Callable[[list[Any]], list[str]]:
    """``make(lines)``: the argv of a runner answering its query with ``lines`` (objects
    are written as JSON, bytes as they are), one per line."""

    def make(lines: list[Any]) -> list[str]:
        path = tmp_path / f"lines-{len(list(tmp_path.iterdir()))}.ndjson"
        with path.open("wb") as f:
            for line in lines:
                f.write(line if isinstance(line, bytes) else json.dumps(line, separators=(",", ":")).encode())
                f.write(b"\n")
        return [sys.executable, LINES_RUNNER, str(path)]

    return make
