"""Process mechanics: spawn, pipe size, group signals, reaping, exit descriptions, the stdin writer."""

from __future__ import annotations

import fcntl
import os
import signal
import sys

import pytest

from sidecar_sync import RunnerGoneError, RunnerNotFoundError, WaitTimeoutError
from sidecar_sync.process import PIPE_SIZE, RunnerProcess, describe_exit, spawn
from sidecar_sync.timers import TimerSet
from sidecar_sync.writer import PipeWriter

F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


def test_describe_exit() -> None:
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "killed by SIGKILL (signal 9)"
    assert describe_exit(-15) == "killed by SIGTERM (signal 15)"
    assert "unknown signal" in describe_exit(-200)
    assert describe_exit(None) == "exit status lost: another handler reaped the runner"


def close_all(process: RunnerProcess) -> None:
    for name in ("stdin", "stdout", "stderr", "stdin"):
        process.close_pipe(name)  # idempotent
    process.close_pidfd()
    process.close_pidfd()


def test_spawn_in_own_group_with_wide_stdout_pipe(no_leaks: None) -> None:
    process = spawn([sys.executable, "-c", "import sys; sys.stdin.read()"], dict(os.environ), None)
    try:
        assert os.getpgid(process.pid) == process.pid != os.getpgid(0)
        assert fcntl.fcntl(process.stdout_fd, F_GETPIPE_SZ) == PIPE_SIZE
    finally:
        assert process.signal_group(signal.SIGKILL)
        assert process.wait_exit(10.0)
        assert process.has_exited()
        assert process.reap() == -9
        assert process.reap() == -9  # idempotent
        assert not process.status_lost
        assert not process.signal_group(signal.SIGKILL)  # never after reaping
        close_all(process)


def test_spawn_errors() -> None:
    with pytest.raises(RunnerNotFoundError, match="/no/such/program"):
        spawn(["/no/such/program"], dict(os.environ), None)


def test_has_exited_asks_the_kernel(no_leaks: None) -> None:
    process = spawn([sys.executable, "-c", "pass"], dict(os.environ), None)
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped, no watcher ran
    assert process.has_exited()
    assert process.wait_exit(0.0)
    assert process.reap() == 0
    close_all(process)


def test_pipe_writer(no_leaks: None) -> None:
    process = spawn([sys.executable, "-c", "import os, time; os.read(0, 5); os.close(0); time.sleep(30)"],
                    dict(os.environ), None)
    writer = PipeWriter(process, "w")
    try:
        writer.write(b"hello\n", 1.0)
        # the child closes its stdin after 5 bytes: writes soon fail with EPIPE, cleanly
        with pytest.raises(RunnerGoneError, match="closed its stdin"):
            for _ in range(1000):
                writer.write(b"x" * 4096, 1.0)
        assert writer.broken is not None
        with pytest.raises(RunnerGoneError, match="stdin is closed"):
            writer.write(b"again\n", 1.0)
    finally:
        process.signal_group(signal.SIGKILL)
        process.wait_exit(10.0)
        process.reap()
        writer.close()
        close_all(process)


def test_pipe_writer_timeout_closes_a_half_written_line(no_leaks: None) -> None:
    process = spawn([sys.executable, "-c", "import time; time.sleep(30)"], dict(os.environ), None)
    writer = PipeWriter(process, "w")
    try:
        with pytest.raises(WaitTimeoutError):
            writer.write(b"y" * (4 * 2**20) + b"\n", 0.2)
        assert writer.broken == "a write timed out halfway through a line"
    finally:
        process.signal_group(signal.SIGKILL)
        process.wait_exit(10.0)
        process.reap()
        close_all(process)


def test_timer_set_cancels_and_joins() -> None:
    timers = TimerSet()
    fired: list[int] = []
    timers.start("sidecar-test-a", 0.0, fired.append, 1)
    late = timers.start("sidecar-test-b", 60.0, fired.append, 2)
    assert late is not None and late.daemon and late.name == "sidecar-test-b"
    late.join(0.05)
    assert timers.close(timeout=5.0) == []
    assert not late.is_alive() and fired in ([1], [])
    assert timers.start("sidecar-test-c", 0.0, fired.append, 3) is None  # closed
    assert len(timers) == 0


def test_timer_exceptions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    timers = TimerSet()

    def boom() -> None:
        raise RuntimeError("timer bug")

    timer = timers.start("sidecar-test-boom", 0.0, boom)
    assert timer is not None
    timer.join(5.0)
    assert any("timer sidecar-test-boom failed" in r.getMessage() and r.exc_info for r in caplog.records)
    timers.close()
