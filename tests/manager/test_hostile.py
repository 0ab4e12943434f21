"""Hostile callers: bad text, huge prompts, callbacks that raise anything or never return,
shutdown under pressure, typos in provider_config. Everything fails before spawning,
or is bounded in time, and loses nothing else."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import sidecar_sync
from sidecar_sync import (
    InvalidOptionError,
    PromptTooLargeError,
    SessionNotFoundError,
    SidecarError,
    SidecarManager,
)
from tests._proc import descendants, wait_gone
from tests.manager.conftest import TIMEOUT, scripted, sidecar_threads

BAD = "lone \udcff surrogate"


@pytest.mark.parametrize("field", ["session_id", "prompt", "model", "system_prompt", "provider", "permission_mode"])
def test_text_that_is_not_unicode_is_refused_before_spawning(manager: SidecarManager, field: str) -> None:
    before = descendants()
    kwargs: dict[str, Any] = {"session_id": "s", "provider": "echo", "prompt": "x"}
    kwargs[field] = BAD
    with pytest.raises(InvalidOptionError, match=field):
        manager.start_session(**kwargs)
    assert descendants() == before and manager.list_sessions() == []
    manager.start_session("s", "echo", "fine")  # the id is still free
    assert manager.wait("s", TIMEOUT).status == "idle"
    manager.shutdown()  # never raises


def test_prompts_over_the_size_limit_are_refused(make_manager: Callable[..., SidecarManager]) -> None:
    manager = make_manager(max_prompt_size=1000)
    before = descendants()
    with pytest.raises(PromptTooLargeError, match="max_prompt_size=1000"):
        manager.start_session("s", "echo", "x" * 1001)
    assert descendants() == before and manager.list_sessions() == []
    manager.start_session("s", "echo", "é" * 500)  # 1000 bytes of UTF-8
    manager.wait("s", TIMEOUT)
    with pytest.raises(PromptTooLargeError):
        manager.write_prompt("s", "é" * 501)
    with pytest.raises(InvalidOptionError, match="prompt"):
        manager.write_prompt("s", BAD)
    assert manager.get_session("s").status == "idle"


def test_a_typo_in_provider_config_names_the_known_keys(manager: SidecarManager) -> None:
    before = descendants()
    with pytest.raises(InvalidOptionError, match=r"unknown key\(s\) 'dealy'.*known keys: .*delay"):
        manager.start_session("s", "echo", "x", provider_config={"dealy": 2})
    assert descendants() == before and manager.list_sessions() == []


def test_the_library_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("sidecar_sync").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    assert sidecar_sync.__name__ == "sidecar_sync"


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), GeneratorExit(), ValueError("plain")])
def test_callbacks_raising_anything_do_not_stop_the_reader(
    manager: SidecarManager, exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    calls = {"messages": 0, "statuses": 0}

    def on_message(_sid: str, messages: list[Any]) -> None:
        calls["messages"] += len(messages)
        raise exc

    def on_status(_sid: str, _status: str, _error: str | None) -> None:
        calls["statuses"] += 1
        raise exc

    manager.register_provider("good", scripted("good", count=400))
    manager.start_session("s", "good", "x", on_message=on_message, on_status=on_status)
    assert manager.wait("s", TIMEOUT).status == "idle"
    assert calls["messages"] == 401  # every message, 400 texts and the cost
    manager.stop_session("s")
    state = manager.wait("s", TIMEOUT)
    assert state.status == "done" and state.stop_step == "stop" and state.exit_code == 0
    assert any("callback" in r.getMessage() and r.exc_info for r in caplog.records)


def test_shutdown_is_bounded_however_many_callbacks_are_stuck(
    make_manager: Callable[..., SidecarManager],
) -> None:
    manager = make_manager()  # stop_grace 0.5, kill_grace 0.5: the deadline is 2 s
    release = threading.Event()
    stuck = threading.Barrier(7)

    def on_status(_sid: str, status: str, _error: str | None) -> None:
        if status == "idle":
            stuck.wait(TIMEOUT)
            release.wait(TIMEOUT)  # user code that does not return

    manager.register_provider("good", scripted("good", count=1))
    for i in range(6):
        manager.start_session(f"s{i}", "good", "x", on_status=on_status)
    stuck.wait(TIMEOUT)  # all six callbacks are inside user code now
    started = time.monotonic()
    manager.shutdown()
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 2.0 + 1.5, elapsed
    states = manager.list_sessions()
    assert all(s.finished and s.status == "done" for s in states), states


def test_callbacks_may_call_shutdown_at_the_same_time(manager: SidecarManager) -> None:
    both = threading.Barrier(2)
    returned: list[float] = []

    def on_status(_sid: str, status: str, _error: str | None) -> None:
        if status == "idle":
            both.wait(TIMEOUT)
            started = time.monotonic()
            manager.shutdown()
            returned.append(time.monotonic() - started)

    manager.register_provider("good", scripted("good", count=1))
    manager.start_session("a", "good", "x", on_status=on_status)
    manager.start_session("b", "good", "x", on_status=on_status)
    deadline = time.monotonic() + TIMEOUT
    while len(returned) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(returned) == 2 and max(returned) < 1.0, returned  # neither waits for the other
    started = time.monotonic()
    manager.shutdown()  # the full shutdown, from outside
    assert time.monotonic() - started < 2.0 + 1.5
    assert all(s.finished for s in manager.list_sessions())


def test_no_callback_runs_after_remove_session_returns(manager: SidecarManager) -> None:
    inside = threading.Event()
    removed = threading.Event()
    late: list[str] = []

    def on_message(_sid: str, messages: list[Any]) -> None:
        if removed.is_set():
            late.append("message")
        if not inside.is_set():
            inside.set()
            time.sleep(0.3)  # busy in user code while the session is removed

    def on_status(_sid: str, status: str, _error: str | None) -> None:
        if removed.is_set():
            late.append(status)

    manager.register_provider("good", scripted("good", count=50, delay=0.01))
    manager.start_session("s", "good", "x", on_message=on_message, on_status=on_status)
    assert inside.wait(TIMEOUT)
    started = time.monotonic()
    manager.remove_session("s")
    removed.set()
    assert time.monotonic() - started < 0.5 + 1.0 + 0.5  # the callback's 0.3 s, not 10 s
    time.sleep(0.2)
    assert late == []
    with pytest.raises(SessionNotFoundError):
        manager.get_session("s")


def test_a_held_unread_iterator_does_not_hold_up_shutdown(make_manager: Callable[..., SidecarManager]) -> None:
    manager = make_manager(max_buffered_bytes=64 * 1024)
    manager.register_provider("good", scripted("good", count=20000))
    manager.start_session("s", "good", "x")
    iterator = manager.iter_messages("s", timeout=TIMEOUT)
    next(iterator)  # then never read again: the reader waits for it
    fds_before = len(os.listdir("/proc/self/fd"))
    started = time.monotonic()
    manager.shutdown()
    assert time.monotonic() - started < 2.0 + 1.5
    for _ in iterator:  # it ends: shutdown closed it
        pass
    assert not sidecar_threads()
    assert len(os.listdir("/proc/self/fd")) < fds_before


def test_shutdown_never_raises(manager: SidecarManager, monkeypatch: pytest.MonkeyPatch) -> None:
    manager.register_provider("hold", scripted("hold"))
    manager.start_session("s", "hold", "x")
    session = manager._registry.get("s")  # noqa: SLF001 - inject a failure inside shutdown

    def broken() -> bool:
        raise RuntimeError("bug in the stop path")

    monkeypatch.setattr(session, "request_stop", broken)
    manager.shutdown()  # logs, does not raise
    monkeypatch.undo()
    manager.shutdown()
    assert manager.get_session("s").finished


def test_a_failure_inside_start_session_leaves_nothing_behind(
    manager: SidecarManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = descendants()

    class Boom(Exception):
        pass

    def failing_session(**_kwargs: Any) -> None:
        raise Boom

    monkeypatch.setattr("sidecar_sync.launcher.Session", failing_session)
    with pytest.raises(Boom):
        manager.start_session("s", "echo", "x")
    monkeypatch.undo()
    assert manager.list_sessions() == []
    assert not wait_gone(descendants() - before, timeout=5.0)  # the runner spawned before the failure is gone
    manager.start_session("s", "echo", "x")  # and the id is free
    assert manager.wait("s", TIMEOUT).status == "idle"


def test_the_manager_refuses_use_after_shutdown(manager: SidecarManager) -> None:
    manager.shutdown()
    with pytest.raises(SidecarError, match="shut down"):
        manager.start_session("s", "echo", "x")


def test_usage_values_that_cannot_be_usage_are_ignored_and_counted(manager: SidecarManager) -> None:
    """A runner reporting a negative cost and token count, a count as a string and as a bool,
    a count out of any int's range, and a NaN cost (not JSON: the line is invalid)."""
    patches = [
        {"total_cost_usd": -0.5, "usage": {"input_tokens": -3, "output_tokens": 6}},  # 2 invalid
        {"usage": {"input_tokens": "7", "output_tokens": True}},  # 2 invalid
        {"usage": {"input_tokens": 1e30, "output_tokens": 2.0}},  # 1 invalid; 2.0 is a count of 2
        {"total_cost_usd": float("nan")},  # printed as NaN: the line is not JSON
        {"total_cost_usd": 2.5, "usage": {"input_tokens": 10, "output_tokens": 20}},  # all fine
    ]
    manager.register_provider("p", scripted("good", count=1, patch=json.dumps(patches)))
    manager.start_session("s", "p", "turn 1")
    for turn in range(2, len(patches) + 1):
        assert manager.wait("s", TIMEOUT).status == "idle"
        manager.write_prompt("s", f"turn {turn}")
    state = manager.wait("s", TIMEOUT)
    assert state.status == "idle" and len(state.turns) == 5, state
    assert state.invalid_usage == 5
    assert state.invalid_lines == 1
    assert state.cost_usd == 2.5 and state.cost_reported  # the latest valid running cost
    assert (state.input_tokens, state.output_tokens) == (10, 6 + 2 + 20)
