"""Stopping: the stop ladder on the whole process group, removal, cleanup timers, shutdown."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from sidecar_sync import AgentMessage, SessionNotFoundError, SidecarManager
from sidecar_sync.process import RunnerProcess
from tests._proc import descendants, is_alive, wait_gone
from tests.manager.conftest import TIMEOUT, Recorder, scripted, sidecar_threads


def _pids(recorder: Recorder, count: int) -> list[int]:
    """The pids a stubborn runner announces (as bare ``pid`` events -> unknown messages)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        pids = [m.content["pid"] for m in recorder.of_type("unknown") if m.content.get("type") == "pid"]
        if len(pids) >= count:
            return pids
        time.sleep(0.01)
    raise AssertionError(f"runner announced {len(pids)} of {count} pids")


def test_polite_stop(manager: SidecarManager, recorder: Recorder) -> None:
    """A runner that honours ``stop`` exits 0; no signal is needed."""
    manager.register_provider("hold", scripted("hold"))
    manager.start_session("s", "hold", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    deadline = time.monotonic() + TIMEOUT
    while not recorder.texts:
        assert time.monotonic() < deadline, "the runner never answered"
        time.sleep(0.01)
    manager.stop_session("s")
    recorder.wait_final()
    state = manager.get_session("s")
    assert state.status == "done" and state.exit_code == 0 and state.error is None


@pytest.mark.parametrize(
    ("term", "child", "exit_code"),
    [("default", "1", -15), ("ignore", "1", -9), ("ignore", "own_group", -9)],
    ids=["sigterm-ends-it", "sigkill-ends-it", "sigkill-reaches-a-child-in-its-own-group"],
)
def test_stop_ladder_kills_the_whole_group(
    make_manager: Callable[..., SidecarManager], recorder: Recorder, term: str, child: str, exit_code: int
) -> None:
    """A runner ignoring ``stop`` (and maybe SIGTERM) with a child ignoring SIGTERM: neither survives,
    even when the child left the runner's process group (as Codex's shell commands do)."""
    manager = make_manager(stop_grace=0.3, kill_grace=0.3)
    manager.register_provider("stubborn", scripted("stubborn", term=term, child=child))
    manager.start_session("s", "stubborn", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    runner_pid, child_pid = _pids(recorder, 2)
    assert is_alive(runner_pid) and is_alive(child_pid)
    started = time.monotonic()
    manager.stop_session("s")
    recorder.wait_final()
    elapsed = time.monotonic() - started
    state = manager.get_session("s")
    assert state.status == "done" and state.error is None  # stopped on request: done
    assert state.exit_code == exit_code
    assert not wait_gone([runner_pid, child_pid], timeout=5.0)
    assert elapsed >= 0.3  # not before stop_grace (a lower bound, not a timing assertion)


def test_a_runner_that_outlives_sigkill_ends_the_session_in_error(
    make_manager: Callable[..., SidecarManager], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If even SIGKILL does not end the runner (here: it never arrives), the ladder gives up:
    the readers stop, the session ends ``error`` saying so, and no exit status is invented."""
    real_signal_group = RunnerProcess.signal_group
    spared: list[RunnerProcess] = []

    def without_sigkill(self: RunnerProcess, sig: int) -> bool:
        if sig != signal.SIGKILL:
            return real_signal_group(self, sig)
        spared.append(self)
        return True

    manager = make_manager(stop_grace=0.2, kill_grace=0.2)
    manager.register_provider("stubborn", scripted("stubborn", term="ignore", child="0"))
    manager.start_session("s", "stubborn", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    (runner_pid,) = _pids(recorder, 1)
    monkeypatch.setattr(RunnerProcess, "signal_group", without_sigkill)
    try:
        manager.stop_session("s")
        state = manager.wait("s", timeout=TIMEOUT, until="final")
        assert state.status == "error" and state.exit_code is None
        assert state.error == f"runner (pid {runner_pid}) did not exit after SIGKILL"
        assert is_alive(runner_pid)
    finally:
        monkeypatch.undo()
        os.kill(runner_pid, signal.SIGKILL)
        assert spared, "the ladder never reached SIGKILL"
        assert spared[0].reap() == -signal.SIGKILL


def test_grandchild_holding_stdout_does_not_hang_the_session(
    make_manager: Callable[..., SidecarManager], recorder: Recorder
) -> None:
    """Exit is not EOF: the runner exits while its child holds stdout; the group is killed after the grace."""
    manager = make_manager(stop_grace=0.3)
    manager.register_provider("orphan", scripted("orphan", count=1, sleep=60))
    before = descendants()
    manager.start_session("s", "orphan", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    recorder.wait_final(timeout=TIMEOUT)
    state = manager.get_session("s")
    assert state.status == "done" and state.exit_code == 0
    assert recorder.texts == ["1:0"]
    assert not wait_gone(descendants() - before, timeout=5.0)


def test_runner_closing_stdout_but_living_on_is_stopped(
    make_manager: Callable[..., SidecarManager], recorder: Recorder
) -> None:
    manager = make_manager(stop_grace=0.3, kill_grace=0.3)
    manager.register_provider("mute", scripted("close_stdout", sleep=60))
    manager.start_session("s", "mute", "x", on_status=recorder.on_status)
    recorder.wait_final()
    state = manager.get_session("s")
    assert state.status == "error" and state.exit_code == -15
    assert "closed its stdout" in (state.error or "") and "SIGTERM" in (state.error or "")


def test_remove_session_kills_a_live_runner(manager: SidecarManager, recorder: Recorder) -> None:
    manager.register_provider("stubborn", scripted("stubborn", term="ignore", child=1))
    manager.start_session("s", "stubborn", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    pids = _pids(recorder, 2)
    manager.remove_session("s")
    with recorder.lock:
        calls = len(recorder.events)
    assert not wait_gone(pids, timeout=5.0)
    with pytest.raises(SessionNotFoundError):
        manager.get_session("s")
    # its threads were joined, and no callback started after removal returned (the
    # documented promise; the runner is killed before the callbacks are detached, so
    # its final status may be reported while remove_session runs)
    assert not [t for t in sidecar_threads() if t.name.endswith("-s")]
    with recorder.lock:
        assert len(recorder.events) == calls


def test_cleanup_timer_removes_finished_sessions(make_manager: Callable[..., SidecarManager]) -> None:
    manager = make_manager(cleanup_grace=0.2)
    manager.register_provider("good", scripted("good", count=1, exit_after=1))
    manager.start_session("s", "good", "x")
    deadline = time.monotonic() + TIMEOUT
    while manager.list_sessions() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert manager.list_sessions() == []
    assert not [t for t in sidecar_threads() if t.name.startswith("sidecar-cleanup-")]


@pytest.mark.parametrize("ending", ["crash", "stop"])
def test_sessions_that_end_in_error_or_by_stop_leave_after_the_grace_too(
    make_manager: Callable[..., SidecarManager], ending: str
) -> None:
    """Every final status arms the timer, not only a clean exit: a crashed session
    (error) and a stopped one (done) leave the registry once cleanup_grace is over."""
    manager = make_manager(cleanup_grace=0.2)
    recorder = Recorder()
    if ending == "crash":
        manager.register_provider("crash", scripted("crash", count=1, code=3))
        manager.start_session("s", "crash", "x", on_status=recorder.on_status)
    else:
        manager.register_provider("hold", scripted("hold"))
        manager.start_session("s", "hold", "x", on_status=recorder.on_status)
        manager.stop_session("s")
    recorder.wait_final()
    assert recorder.statuses[-1][0] == ("error" if ending == "crash" else "done")
    deadline = time.monotonic() + TIMEOUT
    while manager.list_sessions() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert manager.list_sessions() == []
    with pytest.raises(SessionNotFoundError):
        manager.get_session("s")


def test_the_cleanup_timer_is_armed_at_the_final_status_with_the_grace(
    make_manager: Callable[..., SidecarManager],
) -> None:
    """A finished session stays listed (its state readable) while its timer, armed for
    cleanup_grace, runs; a session that is only idle has no timer."""
    manager = make_manager(cleanup_grace=60)
    manager.register_provider("good", scripted("good", count=1, exit_after=1))
    manager.register_provider("idle", scripted("good", count=1))
    recorder = Recorder()
    manager.start_session("idle", "idle", "x")
    manager.start_session("s", "good", "x", on_status=recorder.on_status)
    assert manager.wait("idle", TIMEOUT).status == "idle"
    recorder.wait_final()
    deadline = time.monotonic() + TIMEOUT
    while not [t for t in sidecar_threads() if t.name == "sidecar-cleanup-s"] and time.monotonic() < deadline:
        time.sleep(0.01)
    (timer,) = [t for t in sidecar_threads() if t.name == "sidecar-cleanup-s"]
    assert isinstance(timer, threading.Timer) and timer.interval == 60
    assert manager.get_session("s").status == "done"
    assert {s.session_id for s in manager.list_sessions()} == {"s", "idle"}
    assert not [t for t in sidecar_threads() if t.name == "sidecar-cleanup-idle"]


def test_remove_session_cancels_the_cleanup_timer(make_manager: Callable[..., SidecarManager]) -> None:
    manager = make_manager(cleanup_grace=60)
    manager.register_provider("good", scripted("good", count=1, exit_after=1))
    recorder = Recorder()
    manager.start_session("s", "good", "x", on_status=recorder.on_status)
    recorder.wait_final()
    deadline = time.monotonic() + TIMEOUT
    while not [t for t in sidecar_threads() if t.name == "sidecar-cleanup-s"] and time.monotonic() < deadline:
        time.sleep(0.01)
    timers = [t for t in sidecar_threads() if t.name == "sidecar-cleanup-s"]
    assert len(timers) == 1
    manager.remove_session("s")
    timers[0].join(5.0)
    assert not timers[0].is_alive()
    # the id is free again
    manager.start_session("s", "good", "x")


def test_cleanup_timer_never_removes_a_newer_session_with_the_same_id(
    make_manager: Callable[..., SidecarManager],
) -> None:
    manager = make_manager(cleanup_grace=0.3)
    manager.register_provider("good", scripted("good", count=1, exit_after=1))
    manager.register_provider("hold", scripted("hold"))
    first = Recorder()
    manager.start_session("s", "good", "x", on_status=first.on_status)
    first.wait_final()
    manager.remove_session("s")
    manager.start_session("s", "hold", "x")
    time.sleep(0.6)  # longer than the first session's cleanup grace
    assert manager.get_session("s").status in ("running", "idle")


def test_shutdown_joins_everything_and_is_idempotent(no_leaks: None) -> None:
    manager = SidecarManager(stop_grace=0.3, kill_grace=0.3, cleanup_grace=60)
    manager.register_provider("good", scripted("good", count=1, exit_after=1))
    manager.register_provider("hold", scripted("hold"))
    manager.register_provider("stubborn", scripted("stubborn", term="ignore", child=1))
    done = Recorder()
    manager.start_session("finished", "good", "x", on_status=done.on_status)
    manager.start_session("holding", "hold", "x")
    manager.start_session("stubborn", "stubborn", "x")
    done.wait_final()
    assert sidecar_threads()
    manager.shutdown()
    manager.shutdown()
    assert {s.session_id: s.status for s in manager.list_sessions()} == {
        "finished": "done",
        "holding": "done",
        "stubborn": "done",
    }
    # no_leaks asserts: no process and no sidecar thread left


def test_forgotten_manager_does_not_leak_processes(no_leaks: None) -> None:
    """Last resort: dropping a manager without shutdown kills its runners' groups."""
    recorder = Recorder()
    manager = SidecarManager(stop_grace=0.3)
    manager.register_provider("stubborn", scripted("stubborn", term="ignore", child=1))
    manager.start_session("s", "stubborn", "x", on_message=recorder.on_message)
    pids = _pids(recorder, 2)
    del manager
    gc.collect()
    assert not wait_gone(pids, timeout=5.0)


def test_callback_may_stop_or_remove_its_own_session(manager: SidecarManager) -> None:
    manager.register_provider("good", scripted("good", count=50, delay=0.001))
    stopped = threading.Event()
    removed = threading.Event()
    seen: dict[str, int] = {"stop": 0, "remove": 0}

    def stop_self(session_id: str, messages: list[AgentMessage]) -> None:
        seen["stop"] += len(messages)
        manager.stop_session(session_id)
        stopped.set()

    def remove_self(session_id: str, messages: list[AgentMessage]) -> None:
        seen["remove"] += len(messages)
        manager.remove_session(session_id)
        removed.set()

    stop_status = Recorder()
    manager.start_session("a", "good", "x", on_message=stop_self, on_status=stop_status.on_status)
    manager.start_session("b", "good", "x", on_message=remove_self)
    assert stopped.wait(TIMEOUT) and removed.wait(TIMEOUT)
    stop_status.wait_final()
    assert manager.get_session("a").status == "done"
    with pytest.raises(SessionNotFoundError):
        manager.get_session("b")
    removed_count = seen["remove"]
    time.sleep(0.2)
    assert seen["remove"] == removed_count  # nothing delivered after removal
