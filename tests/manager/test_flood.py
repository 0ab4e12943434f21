"""A 1 GB stdout flood at full speed: bounded memory, every valid message delivered."""

from __future__ import annotations

import pytest

from sidecar_sync import SidecarManager
from tests.manager.conftest import TIMEOUT, flood, rss_bytes

GIB = 2**30


@pytest.mark.slow
def test_one_gigabyte_flood(manager: SidecarManager) -> None:
    """The runner writes 1 GiB of 4 KiB lines as fast as it can; the manager keeps up in bounded memory.

    Memory is sampled in the callback (this process's RSS now, not the peak of the
    whole test run). The bound is the framer's pending cap plus a few read chunks
    and slack: far below what buffering the stream would take.
    """
    count = 0
    batches = 0
    totals: list[int] = []
    base = rss_bytes()
    peak = base

    def on_message(session_id: str, messages: list) -> None:
        nonlocal count, batches, peak
        count += len(messages)
        batches += 1
        if batches % 16 == 0:
            peak = max(peak, rss_bytes())
        for message in messages[-1:]:
            if message.type == "unknown" and message.content.get("type") == "flood_total":
                totals.append(message.content["lines"])

    manager.register_provider("flood", flood(bytes=GIB, line=4096))
    manager.start_session("f", "flood", "go", on_message=on_message)
    manager.wait("f", timeout=TIMEOUT * 4)
    state = manager.wait("f", timeout=TIMEOUT, until="final")
    assert state.status == "done", state.error
    assert totals, "the runner's closing count never arrived"
    assert count == totals[0] + 1 == state.messages
    assert state.invalid_lines == 0 and state.dropped_lines == 0
    assert totals[0] * 4096 >= GIB
    assert peak - base < 128 * 2**20, f"RSS grew by {(peak - base) >> 20} MiB during the flood"
