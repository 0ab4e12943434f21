"""Memory is bounded in bytes: big messages nobody reads are dropped (and counted) or,
with an open iterator, push back on the runner; nothing a consumer reads is lost."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from sidecar_sync import SidecarManager
from tests.manager.conftest import TIMEOUT, flood, rss_bytes, scripted

MIB = 2**20


def test_without_a_consumer_the_backlog_keeps_a_bounded_number_of_bytes(
    make_manager: Callable[..., SidecarManager],
) -> None:
    """400 messages of 1 MiB, nobody reading: the oldest are dropped beyond 16 MiB, counted."""
    manager = make_manager(max_buffered_bytes=16 * MIB)
    manager.register_provider("flood", flood(bytes=400 * MIB, line=MIB))
    base = rss_bytes()
    manager.start_session("f", "flood", "go")
    state = manager.wait("f", TIMEOUT * 2, until="final")
    grown = rss_bytes() - base
    assert state.status == "done", state.error
    assert state.dropped_messages > 300
    assert grown < 128 * MIB, f"RSS grew by {grown >> 20} MiB"
    kept = list(manager.iter_messages("f", timeout=TIMEOUT))
    assert 0 < len(kept) + state.dropped_messages == state.messages
    assert sum(len(m.content.text) for m in kept if m.type == "text") <= 17 * MIB


def test_an_unread_iterator_pushes_back_and_loses_nothing(make_manager: Callable[..., SidecarManager]) -> None:
    """The iterator is opened and left alone while 200 MiB arrive: the session stops reading
    (memory stays flat); then every message is read, in order."""
    manager = make_manager(max_buffered_bytes=8 * MIB)
    manager.register_provider("flood", flood(bytes=200 * MIB, line=MIB))
    base = rss_bytes()
    manager.start_session("f", "flood", "go")
    iterator = manager.iter_messages("f", timeout=TIMEOUT)
    deadline = time.monotonic() + 2.0
    peak = 0
    while time.monotonic() < deadline:  # the runner keeps writing; we keep not reading
        peak = max(peak, rss_bytes() - base)
        time.sleep(0.05)
    assert peak < 96 * MIB, f"RSS grew by {peak >> 20} MiB with an unread iterator"
    assert manager.get_session("f").status == "running"  # waiting for us, not done
    count = 0
    totals: list[Any] = []
    for message in iterator:
        count += 1
        if message.type == "unknown":
            totals.append(message.content.get("lines"))
    state = manager.wait("f", TIMEOUT, until="final")
    rest = list(manager.iter_messages("f", timeout=TIMEOUT))  # what came after the turn ended
    totals += [m.content.get("lines") for m in rest if m.type == "unknown"]
    assert state.dropped_messages == 0
    assert count + len(rest) == state.messages
    assert totals == [count]  # every line the runner wrote reached the iterator
    assert len(rest) == 1  # its closing count, printed after the turn ended


def drop_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "nobody consumes its messages" in r.getMessage()]


def test_a_backlog_over_its_bytes_drops_the_oldest_counts_them_and_warns_once(
    make_manager: Callable[..., SidecarManager], caplog: pytest.LogCaptureFixture
) -> None:
    """8 MiB of 64 KiB messages, nobody reading, 1 MiB of room: many drops, one warning."""
    manager = make_manager(max_buffered_bytes=MIB)
    manager.register_provider("flood", flood(bytes=8 * MIB, line=64 * 1024))
    with caplog.at_level(logging.WARNING, logger="sidecar_sync.session"):
        manager.start_session("f", "flood", "go")
        state = manager.wait("f", TIMEOUT, until="final")
    assert state.status == "done", state.error
    assert state.dropped_messages > 64, state  # 128 lines of 64 KiB, room for about 16
    assert drop_warnings(caplog) == [
        f"session 'f': nobody consumes its messages; dropping the oldest beyond 10000 messages or {MIB} bytes"
    ]
    kept = list(manager.iter_messages("f", timeout=TIMEOUT))
    assert len(kept) + state.dropped_messages == state.messages
    assert sum(len(m.content.text) for m in kept if m.type == "text") <= MIB
    assert kept[-1].type == "unknown" and kept[-1].content["type"] == "flood_total"  # the newest are kept


def test_a_backlog_over_its_count_drops_exactly_the_oldest_and_warns_once(
    make_manager: Callable[..., SidecarManager], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager(message_backlog=10)
    manager.register_provider("good", scripted("good", count=100, delay=0.001))  # many small batches
    with caplog.at_level(logging.WARNING, logger="sidecar_sync.session"):
        manager.start_session("s", "good", "x")
        state = manager.wait("s", TIMEOUT)
    assert state.dropped_messages == 91, state  # 100 texts and a cost message, room for 10
    assert len(drop_warnings(caplog)) == 1, drop_warnings(caplog)
    texts = [m.content.text for m in manager.iter_messages("s", timeout=TIMEOUT) if m.type == "text"]
    assert texts == [f"1:{i}" for i in range(91, 100)]
