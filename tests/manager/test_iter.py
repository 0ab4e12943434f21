"""``iter_messages``: the backlog, the end of a turn, timeouts, back-pressure, unsubscribing."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Callable

import pytest

from sidecar_sync import SidecarManager, WaitTimeoutError
from tests._proc import wait_until
from tests.manager.conftest import TIMEOUT, Recorder, scripted


def test_start_then_iterate_misses_nothing(manager: SidecarManager) -> None:
    """Messages delivered before the first iterator wait in the backlog."""
    manager.register_provider("good", scripted("good", count=100))
    manager.start_session("s", "good", "x")
    manager.wait("s", timeout=TIMEOUT)  # the whole turn happens before anyone iterates
    messages = list(manager.iter_messages("s", timeout=TIMEOUT))
    assert [m.content.text for m in messages if m.type == "text"] == [f"1:{i}" for i in range(100)]
    assert messages[-1].type == "cost"
    # the backlog went to that iterator; the turn is over, so a new one ends at once
    assert list(manager.iter_messages("s", timeout=TIMEOUT)) == []


def test_iterator_ends_with_the_turn(manager: SidecarManager) -> None:
    manager.register_provider("good", scripted("good", count=20, delay=0.005))
    manager.start_session("s", "good", "x")
    first = [m.content.text for m in manager.iter_messages("s", timeout=TIMEOUT) if m.type == "text"]
    assert first == [f"1:{i}" for i in range(20)]
    manager.write_prompt("s", "y")
    second = [m.content.text for m in manager.iter_messages("s", timeout=TIMEOUT) if m.type == "text"]
    assert second == [f"2:{i}" for i in range(20)]
    assert manager.get_session("s").status == "idle"


def test_iterator_ends_when_the_session_ends(manager: SidecarManager) -> None:
    manager.register_provider("crash", scripted("crash", count=5, code=2))
    manager.start_session("s", "crash", "x")
    texts = [m.content.text for m in manager.iter_messages("s", timeout=TIMEOUT)]
    assert texts == [f"1:{i}" for i in range(5)]
    assert manager.get_session("s").status == "error"


def test_two_iterators_each_see_every_live_message(manager: SidecarManager) -> None:
    manager.register_provider("hold", scripted("good", count=50, delay=0.002))
    manager.start_session("s", "hold", "x")
    a = manager.iter_messages("s", timeout=TIMEOUT)  # takes the backlog
    b = manager.iter_messages("s", timeout=TIMEOUT)  # from now on
    got_a = [m.content.text for m in a if m.type == "text"]
    got_b = [m.content.text for m in b if m.type == "text"]
    assert got_a == [f"1:{i}" for i in range(50)]
    assert got_b == got_a[len(got_a) - len(got_b) :]  # a suffix: b started later


def test_inactivity_timeout(manager: SidecarManager) -> None:
    manager.register_provider("hold", scripted("hold"))
    manager.start_session("s", "hold", "x")
    iterator = manager.iter_messages("s", timeout=0.3)
    first = next(iterator)
    assert first.content.text == "1:0"
    with pytest.raises(WaitTimeoutError, match="no message within"):
        next(iterator)
    iterator.close()
    with pytest.raises(StopIteration):
        next(iterator)


def test_closed_or_dropped_iterators_unsubscribe(manager: SidecarManager) -> None:
    manager.register_provider("hold", scripted("hold"))
    manager.start_session("s", "hold", "x")
    consumers = manager._registry.get("s").consumers  # noqa: SLF001 - white-box: the subscription list
    with manager.iter_messages("s", timeout=TIMEOUT) as iterator:
        next(iterator)
        assert len(consumers._subscriptions) == 1  # noqa: SLF001
    assert len(consumers._subscriptions) == 0  # noqa: SLF001
    iterator = manager.iter_messages("s", timeout=TIMEOUT)
    assert len(consumers._subscriptions) == 1  # noqa: SLF001
    del iterator
    gc.collect()
    assert len(consumers._subscriptions) == 0  # noqa: SLF001


def test_backlog_is_bounded_and_counts_drops(make_manager: Callable[..., SidecarManager]) -> None:
    manager = make_manager(message_backlog=10)
    manager.register_provider("good", scripted("good", count=100))
    manager.start_session("s", "good", "x")
    state = manager.wait("s", timeout=TIMEOUT)
    assert state.dropped_messages == 91  # 101 messages, room for 10
    texts = [m.content.text for m in manager.iter_messages("s", timeout=TIMEOUT) if m.type == "text"]
    assert texts == [f"1:{i}" for i in range(91, 100)]


def test_no_backlog_while_a_callback_consumes(manager: SidecarManager, recorder: Recorder) -> None:
    manager.register_provider("good", scripted("good", count=10))
    manager.start_session("s", "good", "x", on_message=recorder.on_message)
    manager.wait("s", timeout=TIMEOUT)
    assert list(manager.iter_messages("s", timeout=TIMEOUT)) == []
    assert manager.get_session("s").dropped_messages == 0


def test_slow_iterator_applies_back_pressure_without_loss(make_manager: Callable[..., SidecarManager]) -> None:
    """A tiny buffer: the reader waits for the consumer; every message still arrives in order."""
    manager = make_manager(max_buffered_bytes=512)
    manager.register_provider("good", scripted("good", count=300))
    manager.start_session("s", "good", "x")
    texts = []
    for message in manager.iter_messages("s", timeout=TIMEOUT):
        if message.type == "text":
            texts.append(message.content.text)
            if len(texts) % 50 == 0:
                time.sleep(0.01)
    assert texts == [f"1:{i}" for i in range(300)]


def test_removing_a_session_ends_a_blocked_iterator(manager: SidecarManager) -> None:
    manager.register_provider("hold", scripted("hold"))
    manager.start_session("s", "hold", "x")
    iterator = manager.iter_messages("s", timeout=TIMEOUT)
    assert next(iterator).content.text == "1:0"
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(list(iterator)), name="test-consumer")
    thread.start()
    wait_until(lambda: waiting_for_a_message(thread), "the consumer blocked on the next message")
    manager.remove_session("s")
    thread.join(TIMEOUT)
    assert not thread.is_alive() and result == [[]]


def waiting_for_a_message(thread: threading.Thread) -> bool:
    """True while ``thread`` waits inside an iterator for its next message: its stack holds
    the subscription's ``get`` with a ``Condition.wait`` above it."""
    frame = sys._current_frames().get(thread.ident or -1)
    names = []
    while frame is not None:
        names.append((os.path.basename(frame.f_code.co_filename), frame.f_code.co_name))
        frame = frame.f_back
    return ("threading.py", "wait") in names and ("consumers.py", "get") in names
