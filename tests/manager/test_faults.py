"""Hostile runners and hostile callbacks: the session survives, reports, and loses nothing valid."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import pytest

from sidecar_sync import (
    RunnerGoneError,
    RunnerNotFoundError,
    SessionNotActiveError,
    SidecarManager,
    WaitTimeoutError,
)
from tests._proc import descendants
from tests.manager.conftest import TIMEOUT, Recorder, scripted


def test_crash_mid_line(manager: SidecarManager, recorder: Recorder) -> None:
    """Everything before the torn line is delivered; the torn line is counted invalid; the error names the exit."""
    manager.register_provider("crash", scripted("crash", count=4, code=3))
    manager.start_session("s", "crash", "x", on_message=recorder.on_message, on_status=recorder.on_status)
    recorder.wait_final()
    assert recorder.texts == ["1:0", "1:1", "1:2", "1:3"]
    state = manager.get_session("s")
    assert state.status == "error" and state.exit_code == 3
    assert "exited with code 3" in (state.error or "")
    assert state.invalid_lines == 1


@pytest.mark.parametrize(("code", "status"), [(0, "done"), (5, "error")])
def test_runner_exits_at_once(manager: SidecarManager, recorder: Recorder, code: int, status: str) -> None:
    manager.register_provider("exit", scripted("exit", code=code))
    manager.start_session("s", "exit", "x", on_status=recorder.on_status)  # does not raise
    recorder.wait_final()
    state = manager.get_session("s")
    assert state.status == status and state.exit_code == code
    with pytest.raises((SessionNotActiveError, RunnerGoneError)):
        manager.write_prompt("s", "anyone?")


def test_missing_interpreter_is_refused_before_spawning(make_manager: Callable[..., SidecarManager]) -> None:
    manager = make_manager(python="/nonexistent/bin/python3")
    before = descendants()
    with pytest.raises(RunnerNotFoundError) as info:
        manager.start_session("s", "echo", "x")
    assert "/nonexistent/bin/python3" in str(info.value) and "python=" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert descendants() == before and manager.list_sessions() == []
    # the id was not taken by the failed start
    with pytest.raises(RunnerNotFoundError):
        manager.start_session("s", "echo", "x")


def test_missing_custom_program(manager: SidecarManager) -> None:
    manager.register_provider("ghost", ["/nonexistent/runner", "--flag"])
    with pytest.raises(RunnerNotFoundError, match="/nonexistent/runner"):
        manager.start_session("s", "ghost", "x")
    manager.register_provider("ghost2", ["no-such-program-on-path-xyz"])
    with pytest.raises(RunnerNotFoundError, match="not found on PATH"):
        manager.start_session("s", "ghost2", "x")


def test_missing_runner_module_fails_with_stderr_tail(manager: SidecarManager, recorder: Recorder) -> None:
    """The interpreter starts but the module is missing: an error status quoting Python's complaint."""
    manager.register_provider("nomod", [sys.executable, "-m", "sidecar_sync.runners.no_such_runner"])
    manager.start_session("s", "nomod", "x", on_status=recorder.on_status)
    recorder.wait_final()
    state = manager.get_session("s")
    assert state.status == "error" and state.exit_code == 1
    assert "No module named sidecar_sync.runners.no_such_runner" in (state.error or "")


def test_garbage_lines_are_counted_and_skipped(manager: SidecarManager, recorder: Recorder) -> None:
    """Invalid JSON, invalid UTF-8, a 12 MB line, non-objects and a bad envelope: all valid lines arrive in order."""
    manager.register_provider("garbage", scripted("garbage"))
    manager.start_session("s", "garbage", "x", on_message=recorder.on_message)
    state = manager.wait("s", timeout=TIMEOUT)
    assert state.status == "idle"
    assert recorder.texts == [f"1:{i}" for i in range(6)]
    assert [m.type for m in recorder.messages][-1] == "cost"
    assert state.dropped_lines == 1  # the 12 MB line (over the 10 MiB cap), dropped whole
    # not JSON, bad UTF-8, null, 42, [1,2], "str", agent_event with a non-object event
    assert state.invalid_lines == 7
    assert state.messages == 7


def test_line_cap_is_configurable(
    make_manager: Callable[..., SidecarManager], recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The cap holds at any size; the first line dropped is logged with its size."""
    caplog.set_level(logging.WARNING, logger="sidecar_sync.pipeline")
    manager = make_manager(max_line_size=4096, max_pending=8192)
    manager.register_provider("garbage", scripted("garbage", big=5000))
    manager.start_session("s", "garbage", "x", on_message=recorder.on_message)
    state = manager.wait("s", timeout=TIMEOUT)
    assert state.dropped_lines == 1 and recorder.texts == [f"1:{i}" for i in range(6)]
    drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1
    line = b'{"type":"agent_event","event":{"pad":"' + b"x" * 5000 + b'"}}'  # what the runner wrote
    assert drops[0] == f"session 's': dropped a line of {len(line)} bytes (max_line_size is 4096); " + (
        "further oversized lines are only counted"
    )


def test_stderr_flood_does_not_block_the_session(manager: SidecarManager, recorder: Recorder, caplog) -> None:  # noqa: ANN001
    """4 MiB of stderr is read (and logged at INFO) while stdout goes on."""
    caplog.set_level(logging.INFO, logger="sidecar_sync.session")
    manager.register_provider("noisy", scripted("stderr", bytes=4 * 2**20, count=3))
    manager.start_session("s", "noisy", "x", on_message=recorder.on_message)
    state = manager.wait("s", timeout=TIMEOUT)
    assert state.status == "idle" and recorder.texts == ["1:0", "1:1", "1:2"]
    logged = [r for r in caplog.records if r.name == "sidecar_sync.session" and "stderr noise line" in r.getMessage()]
    assert len(logged) > 1000
    assert logged[0].getMessage().startswith("[s] stderr noise line")


def test_stdin_closed_early_makes_write_prompt_fail_cleanly(manager: SidecarManager) -> None:
    manager.register_provider("nostdin", scripted("close_stdin", sleep=60))
    manager.start_session("s", "nostdin", "x")
    deadline = time.monotonic() + TIMEOUT
    with pytest.raises(RunnerGoneError) as info:
        while time.monotonic() < deadline:  # writes succeed until the runner has closed its stdin
            manager.write_prompt("s", "hello?")
            time.sleep(0.05)
    assert "closed its stdin" in str(info.value) and isinstance(info.value, BrokenPipeError)
    with pytest.raises(SessionNotActiveError, match="stdin closed"):
        manager.write_prompt("s", "again")
    manager.stop_session("s")  # still stoppable (by signal: stop cannot be delivered)
    recorder = Recorder()
    manager.on_status("s", recorder.on_status)
    recorder.wait_final()
    assert manager.get_session("s").status == "done"


def test_runner_that_never_reads_stdin_times_a_write_out(
    make_manager: Callable[..., SidecarManager],
) -> None:
    manager = make_manager(write_timeout=0.3)
    manager.register_provider("deaf", scripted("deaf", sleep=60))
    manager.start_session("s", "deaf", "x")
    with pytest.raises(WaitTimeoutError, match="did not read its stdin"):
        manager.write_prompt("s", "y" * (4 * 2**20))  # far more than a pipe holds
    # half a line went out, so stdin is closed rather than corrupted
    with pytest.raises(SessionNotActiveError, match="stdin closed"):
        manager.write_prompt("s", "z")
    manager.stop_session("s")  # the ladder still works
    assert manager.wait("s", timeout=TIMEOUT).status == "done"


def test_raising_callbacks_are_logged_and_the_reader_goes_on(
    manager: SidecarManager, recorder: Recorder, caplog  # noqa: ANN001
) -> None:
    calls = {"message": 0, "status": 0}

    def bad_message(session_id: str, messages: list) -> None:
        calls["message"] += 1
        raise RuntimeError("callback bug")

    def bad_status(session_id: str, status: str, error: str | None) -> None:
        calls["status"] += 1
        raise ValueError("status bug")

    manager.register_provider("good", scripted("good", count=200, exit_after=2))
    manager.start_session("s", "good", "x", on_message=bad_message, on_status=bad_status)
    manager.on_message("s", recorder.on_message)
    manager.on_status("s", recorder.on_status)
    manager.write_prompt("s", "y")
    recorder.wait_final()
    assert calls["message"] >= 2 and calls["status"] >= 3
    texts = recorder.texts
    assert texts[-200:] == [f"2:{i}" for i in range(200)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "callback" in r.getMessage()]
    assert errors and all(r.exc_info for r in errors)
    assert manager.get_session("s").status == "done"


@pytest.mark.parametrize("which", ["watch", "stderr", "stdout"])
def test_thread_start_failure_leaves_no_runner(
    manager: SidecarManager, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    """No thread to run the session (resource exhaustion): the runner is killed and reaped, the id stays free."""
    import threading

    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name.startswith(f"sidecar-{which}-"):
            raise RuntimeError("can't start new thread")
        real_start(self)

    manager.register_provider("good", scripted("good", count=1))
    before = descendants()
    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        manager.start_session("s", "good", "x")
    monkeypatch.undo()
    assert descendants() == before
    assert manager.list_sessions() == []
    manager.start_session("s", "good", "x")
    assert manager.wait("s", timeout=TIMEOUT).status == "idle"
