"""Fixtures for the benchmark data generator tests: small transcripts built once per session."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bench.transcript import TranscriptInfo, build_block


@pytest.fixture(scope="session", params=["small", "mixed", "flood"])
def built(request: pytest.FixtureRequest) -> tuple[bytes, TranscriptInfo, list[dict[str, Any]]]:
    """(data, info, parsed lines) of a 24 MiB transcript of each variant, seed 3."""
    data, info = build_block(request.param, 24 * 2**20, seed=3)
    events = [orjson.loads(line) for line in data.splitlines()]
    return data, info, events
