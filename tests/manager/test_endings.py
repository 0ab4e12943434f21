"""How sessions end: the stop ladder's record, waiting for the final status, crashes,
runners that never speak the protocol, and pipes held open by processes that escaped."""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sidecar_sync import SessionNotActiveError, SidecarManager, StopStep
from sidecar_sync.outcome import EndFacts, final_status
from tests._proc import is_alive, wait_gone
from tests.manager.conftest import TIMEOUT, Recorder, scripted, sidecar_threads


def pids_announced(recorder: Recorder) -> list[int]:
    return [m.content["pid"] for m in recorder.of_type("unknown") if m.content.get("type") == "pid"]


def wait_for(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# -- the stop ladder records which step ended the runner -------------------------------


@pytest.mark.parametrize(
    ("mode", "args", "step"),
    [
        ("hold", {}, StopStep.STOP),  # obeys the stop command
        ("stubborn", {}, StopStep.SIGTERM),  # ignores stop, dies on SIGTERM
        ("stubborn", {"term": "ignore"}, StopStep.SIGKILL),  # ignores SIGTERM too
    ],
)
def test_each_step_of_the_ladder_is_recorded(
    manager: SidecarManager, mode: str, args: dict[str, str], step: StopStep
) -> None:
    manager.register_provider("p", scripted(mode, **args))
    manager.start_session("s", "p", "x")
    wait_for(lambda: manager.get_session("s").messages > 0)
    manager.stop_session("s")
    state = manager.get_session("s")
    assert state.stopping and not state.finished
    state = manager.wait("s", TIMEOUT)  # a stop was requested: wait() returns at the final status
    assert state.finished and not state.stopping
    assert state.status == "done" and state.error is None
    assert state.stop_step is step


def test_a_runner_that_exits_by_itself_records_exited(manager: SidecarManager) -> None:
    manager.register_provider("p", scripted("good", count=1, exit_after=1))
    manager.start_session("s", "p", "x")
    state = manager.wait("s", TIMEOUT, until="final")
    assert state.status == "done" and state.exit_code == 0 and state.stop_step is StopStep.EXITED


def test_wait_for_the_end_of_a_turn_or_for_the_final_status(manager: SidecarManager) -> None:
    manager.register_provider("p", scripted("good", count=2))
    manager.start_session("s", "p", "x")
    state = manager.wait("s", TIMEOUT)
    assert state.status == "idle" and not state.finished and state.exit_code is None
    with pytest.raises(TimeoutError):
        manager.wait("s", 0.2, until="final")  # the runner lives on, idle
    manager.stop_session("s")
    state = manager.wait("s", TIMEOUT)
    assert state.finished and state.status == "done" and state.exit_code == 0
    with pytest.raises(SessionNotActiveError):
        manager.write_prompt("s", "too late")


def test_stop_then_wait_never_returns_a_non_final_status(manager: SidecarManager) -> None:
    """The report: ``stop_session`` then ``wait()`` returned ``idle`` 27 times in 30."""
    manager.register_provider("p", scripted("good", count=1))
    for i in range(30):
        manager.start_session(f"s{i}", "p", "x")
        manager.wait(f"s{i}", TIMEOUT)
        manager.stop_session(f"s{i}")
        state = manager.wait(f"s{i}", TIMEOUT)
        assert state.finished and state.status == "done" and state.exit_code is not None, state


# -- crashes are never reported done ------------------------------------------------------

# Answers the first query after the delay its prompt names with a failed turn, marks the
# moment with a file named after the session in the directory given as argv[1], and exits
# 3 - leaving a child that holds stdout for a moment, so that the session is not final
# yet when the stop comes after the crash.
RACER = (
    "import json, os, sys, time\n"
    "os.write(1, b'{\"type\":\"ready\"}\\n')\n"
    "query = json.loads(sys.stdin.readline())\n"
    "time.sleep(float(query['prompt']))\n"
    "if os.fork() == 0:\n"
    "    time.sleep(0.2)\n"
    "    os._exit(0)\n"
    "os.write(1, b'{\"type\":\"agent_started\"}\\n{\"type\":\"agent_error\",\"message\":\"boom\"}\\n')\n"
    "with open(os.path.join(sys.argv[1], query['sessionId']), 'w') as f:\n"
    "    f.write(repr(time.monotonic()))\n"
    "os._exit(3)\n"
)


LEAVER = (
    "import json, os, subprocess, sys\n"
    "os.write(1, b'{\"type\":\"ready\"}\\n')\n"
    "json.loads(sys.stdin.readline())\n"
    "child = subprocess.Popen([sys.executable, '-I', '-S', '-c', 'import time; time.sleep(60)'],\n"
    "                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "with open(os.path.join(sys.argv[1], 'child'), 'w') as f:\n"
    "    f.write(str(child.pid))\n"
    "os.write(1, b'{\"type\":\"agent_started\"}\\n{\"type\":\"agent_stopped\"}\\n')\n"
    "os._exit(0)\n"
)


def test_a_process_the_runner_left_in_its_group_is_killed_when_the_session_ends(
    manager: SidecarManager, tmp_path: Path
) -> None:
    """The child holds none of the runner's pipes, so nothing waits for it; it is ended with the group."""
    manager.register_provider("leaver", [sys.executable, "-I", "-S", "-c", LEAVER, str(tmp_path)], adapter="claude")
    manager.start_session("s", "leaver", "go")
    state = manager.wait("s", TIMEOUT, until="final")
    assert state.finished and state.exit_code == 0, state
    child = int((tmp_path / "child").read_text())
    assert not wait_gone({child}, timeout=5.0), "the runner's child outlived the session"


def test_a_crash_before_the_stop_stays_an_error(manager: SidecarManager, tmp_path: Path) -> None:
    manager.register_provider("racer", [sys.executable, "-I", "-S", "-c", RACER, str(tmp_path)], adapter="claude")
    manager.start_session("s", "racer", "0")
    wait_for(lambda: (tmp_path / "s").exists())  # it failed its turn and is exiting with code 3
    time.sleep(0.05)
    assert not manager.get_session("s").finished  # its child still holds stdout
    manager.stop_session("s")
    state = manager.wait("s", TIMEOUT)
    assert state.status == "error" and state.exit_code == 3, state
    assert "boom" in (state.error or "") and "exited with code 3" in (state.error or "")
    assert state.stop_step is StopStep.EXITED


def has_exited(pid: int | None) -> bool:
    """True if our child ``pid`` has exited (asks the kernel without reaping it)."""
    assert pid is not None
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def test_stop_and_crash_race_never_reports_a_crash_as_done(
    make_manager: Callable[..., SidecarManager], tmp_path: Path
) -> None:
    """200 rounds, the stop landing at random moments around the crash: a runner that had
    exited (the kernel says so) before the stop was requested is ``error``. On a loaded
    machine the stops land late more often: more rounds, up to 900, until both sides of
    the race were seen more than 20 times."""
    manager = make_manager()
    manager.register_provider("racer", [sys.executable, "-I", "-S", "-c", RACER, str(tmp_path)], adapter="claude")
    rng = random.Random(12)
    outcomes = {"error": 0, "done": 0}
    start = 0
    while start < 200 or (min(outcomes.values()) <= 20 and start < 900):
        rounds = [(f"r{i}", rng.random() * 0.03) for i in range(start, start + 20)]
        for session_id, delay in rounds:
            manager.start_session(session_id, "racer", f"{delay:.4f}")
        crashed_first = {}
        for session_id, _ in rounds:
            time.sleep(rng.random() * 0.003)
            crashed_first[session_id] = has_exited(manager.get_session(session_id).pid)  # the kernel's word
            manager.stop_session(session_id)
        for session_id, _ in rounds:
            state = manager.wait(session_id, TIMEOUT)
            assert state.finished
            if crashed_first[session_id]:
                assert state.status == "error" and state.exit_code == 3, state
            outcomes[state.status] += 1
        start += 20
    assert outcomes["error"] > 20 and outcomes["done"] > 20, outcomes


# -- runners that never speak the protocol --------------------------------------------------


def test_a_runner_that_never_speaks_the_protocol_fails_its_start(make_manager: Callable[..., SidecarManager]) -> None:
    manager = make_manager(start_timeout=1.0)
    manager.register_provider("cat", ["/bin/cat"])
    started = time.monotonic()
    manager.start_session("s", "cat", "hello")
    state = manager.wait("s", TIMEOUT)
    assert state.finished and state.status == "error"
    assert "/bin/cat" in (state.error or "") and "sent no protocol line within 1 s" in (state.error or "")
    assert state.stop_step is StopStep.STOP  # cat ends at end of input, the polite step
    assert time.monotonic() - started < 1.0 + TIMEOUT / 3


def test_a_silent_start_names_the_stderr_tail(make_manager: Callable[..., SidecarManager]) -> None:
    manager = make_manager(start_timeout=0.5)
    mute = "import sys, time; print('no key found', file=sys.stderr, flush=True); time.sleep(30)"
    manager.register_provider("mute", [sys.executable, "-c", mute])
    manager.start_session("s", "mute", "x")
    state = manager.wait("s", TIMEOUT)
    assert state.status == "error" and "stderr: no key found" in (state.error or "")
    assert state.stop_step is StopStep.SIGTERM


# -- pipes held open by processes that left the group ------------------------------------------


@pytest.mark.parametrize("hold", ["stdout", "stderr"])
def test_a_setsid_daemon_holding_a_pipe_does_not_delay_the_end(
    manager: SidecarManager, recorder: Recorder, hold: str
) -> None:
    manager.register_provider("daemon", scripted("daemon", hold=hold, sleep=60))
    started = time.monotonic()
    manager.start_session("s", "daemon", "x", on_message=recorder.on_message)
    state = manager.wait("s", TIMEOUT, until="final")
    elapsed = time.monotonic() - started
    assert state.status == "done" and state.exit_code == 0, state
    assert elapsed < 0.5 + 1.0 + 5.0, elapsed  # stop_grace 0.5 in these tests, then the holder is killed
    (daemon,) = pids_announced(recorder)
    assert not wait_gone({daemon}, timeout=5.0), "the daemon holding the pipe was left running"
    assert recorder.texts == ["1:0", "1:1", "1:2"]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("hold", ["stdout", "stderr"])
def test_a_setsid_daemon_holding_a_pipe_is_named_killed_and_leaves_no_fd(
    manager: SidecarManager, recorder: Recorder, hold: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning names the holder's pid and command line; the daemon is killed; once the
    session is final its threads end and every fd it opened is closed (the report: a thread,
    3 fds and the daemon leaked)."""
    manager.register_provider("daemon", scripted("daemon", hold=hold, sleep=61.5))
    fds_before = open_fds()
    with caplog.at_level(logging.WARNING, logger="sidecar_sync.session"):
        manager.start_session("s", "daemon", "x", on_message=recorder.on_message)
        state = manager.wait("s", TIMEOUT, until="final")
    assert state.status == "done" and state.exit_code == 0, state
    (daemon,) = pids_announced(recorder)
    assert not wait_gone({daemon}, timeout=5.0), "the daemon holding the pipe was left running"
    held = [r.getMessage() for r in caplog.records if "stayed open" in r.getMessage()]
    assert len(held) == 1, [r.getMessage() for r in caplog.records]
    assert f"held by {daemon} (" in held[0] and "time.sleep(61.5)" in held[0], held[0]  # pid and command line
    readers = {"sidecar-stdout-s", "sidecar-stderr-s", "sidecar-watch-s"}  # the cleanup timer lives on, by design
    wait_for(lambda: not readers & {t.name for t in sidecar_threads()}, timeout=5.0)
    wait_for(lambda: open_fds() <= fds_before, timeout=5.0)  # the session stays listed; its fds are closed


# -- nothing read before the final status is lost ---------------------------------------------


def test_messages_after_agent_stopped_reach_the_next_iterator(manager: SidecarManager) -> None:
    manager.register_provider("p", scripted("good", count=3, trailing=10, exit_after=1))
    manager.start_session("s", "p", "x")
    first = [m.content.text for m in manager.iter_messages("s", timeout=TIMEOUT) if m.type == "text"]
    assert first == ["1:0", "1:1", "1:2"]
    state = manager.wait("s", TIMEOUT, until="final")
    rest = [m.content.text for m in manager.iter_messages("s", timeout=TIMEOUT) if m.type == "text"]
    assert rest == [f"1:{1000 + i}" for i in range(10)]
    assert state.messages == 3 + 1 + 10 and state.dropped_messages == 0


def test_an_iterator_opened_during_a_stop_follows_to_the_final_status(manager: SidecarManager) -> None:
    manager.register_provider("p", scripted("stubborn"))
    manager.start_session("s", "p", "x")
    wait_for(lambda: manager.get_session("s").messages > 0)
    manager.stop_session("s")
    iterator = manager.iter_messages("s", timeout=TIMEOUT)
    consumed = list(iterator)  # ends only when the session is final
    assert manager.get_session("s").finished
    assert [m.content["type"] for m in consumed if m.type == "unknown"] == ["pid"]


def test_final_status_callbacks_run_before_waiters_wake(manager: SidecarManager) -> None:
    seen: list[str] = []
    gate = threading.Event()

    def on_status(_sid: str, status: str, _error: str | None) -> None:
        if manager.get_session("s").ended_at is not None:
            gate.wait(0.2)  # a slow final callback
            seen.append(status)

    manager.register_provider("p", scripted("good", count=1, exit_after=1))
    manager.start_session("s", "p", "x", on_status=on_status)
    state = manager.wait("s", TIMEOUT, until="final")
    assert seen == ["done"] and state.status == "done"


def test_a_killed_runner_is_an_error_and_its_pid_is_not_signalled_after(manager: SidecarManager) -> None:
    manager.register_provider("p", scripted("hold"))
    state = manager.start_session("s", "p", "x")
    assert state.pid is not None and is_alive(state.pid)
    manager.remove_session("s")
    assert not wait_gone({state.pid}, timeout=5.0)


# -- the rules alone: final_status from the facts, without a process ---------------------

ENDED = EndFacts(
    returncode=1,
    status_lost=False,
    stop_requested=False,
    exited_before_stop=False,
    failure=None,
    turn_error=None,
    stderr_tail="Traceback: boom",
)


def test_a_lost_exit_status_is_an_error_that_keeps_the_turns_error() -> None:
    facts = ENDED._replace(returncode=None, status_lost=True, turn_error="the turn failed", stderr_tail="")
    assert final_status(facts) == (
        "error",
        "the turn failed; runner exit status lost: another handler reaped the runner",
    )
    assert final_status(facts._replace(turn_error=None)) == (
        "error",
        "runner exit status lost: another handler reaped the runner",
    )


@pytest.mark.parametrize(
    ("turn_error", "stderr_tail", "reason"),
    [
        (None, "Traceback: boom", "runner exited with code 1; stderr: Traceback: boom"),
        ("the turn failed", "Traceback: boom", "the turn failed; runner exited with code 1; stderr: Traceback: boom"),
        ("claude said: Traceback: boom", "Traceback: boom", "claude said: Traceback: boom; runner exited with code 1"),
        ("the turn failed", "", "the turn failed; runner exited with code 1"),
        (None, "", "runner exited with code 1"),
    ],
)
def test_a_failed_exit_names_the_stderr_tail_unless_the_reason_already_holds_it(
    turn_error: str | None, stderr_tail: str, reason: str
) -> None:
    """The reason is the turn's error, the exit, then the runner's last stderr lines, joined by "; "."""
    assert final_status(ENDED._replace(turn_error=turn_error, stderr_tail=stderr_tail)) == ("error", reason)
