"""The stop ladder on its own: a fake runner process records the signals, time is passed in.

The ladder holds no thread or timer (its supervisor asks it what is due), so every step
of its timeline is checked here with explicit ``now`` values and no process at all.
"""

from __future__ import annotations

import logging
import signal
from typing import cast

import pytest

from sidecar_sync.ladder import FINAL_WAIT, StopLadder
from sidecar_sync.process import RunnerProcess
from sidecar_sync.state import StopStep

STOP_GRACE = 3.0
KILL_GRACE = 1.5  # not FINAL_WAIT (2 s): a mix-up of the two shows


class FakeProcess:
    """Stands in for a RunnerProcess: records each group signal; ``alive`` says whether it is sent."""

    def __init__(self, alive: bool = True) -> None:
        self.pid = 4242
        self.alive = alive
        self.signals: list[int] = []

    def signal_group(self, sig: int) -> bool:
        if self.alive:
            self.signals.append(sig)
        return self.alive


def step(ladder: StopLadder) -> StopStep | None:
    """The ladder's last step, read afresh (a plain attribute read would be narrowed by mypy)."""
    return ladder.step


def ladder_for(process: FakeProcess) -> StopLadder:
    return StopLadder(cast(RunnerProcess, process), "s1", STOP_GRACE, KILL_GRACE)


def test_a_new_ladder_has_taken_no_step() -> None:
    ladder = ladder_for(FakeProcess())
    assert (step(ladder), ladder.reason, ladder.started, ladder.deadline()) == (None, None, False, None)
    assert ladder.advance(1e9) is True  # nothing is due


def test_polite_start_then_sigterm_then_sigkill_then_give_up(caplog: pytest.LogCaptureFixture) -> None:
    """The whole timeline: stop at t, SIGTERM at t + stop_grace, SIGKILL kill_grace later,
    then FINAL_WAIT more before giving up (with a warning naming the pid)."""
    process = FakeProcess()
    ladder = ladder_for(process)
    ladder.start("caller asked", now=100.0)
    assert (step(ladder), ladder.reason, ladder.started) == (StopStep.STOP, "caller asked", True)
    assert ladder.deadline() == 100.0 + STOP_GRACE and process.signals == []

    assert ladder.advance(100.0 + STOP_GRACE - 0.001) is True  # not yet due
    assert step(ladder) is StopStep.STOP and process.signals == []

    assert ladder.advance(100.0 + STOP_GRACE) is True  # due exactly now
    assert step(ladder) is StopStep.SIGTERM and process.signals == [signal.SIGTERM]
    assert ladder.deadline() == 100.0 + STOP_GRACE + KILL_GRACE

    assert ladder.advance(100.0 + STOP_GRACE + KILL_GRACE) is True
    assert step(ladder) is StopStep.SIGKILL and process.signals == [signal.SIGTERM, signal.SIGKILL]
    assert ladder.deadline() == 100.0 + STOP_GRACE + KILL_GRACE + FINAL_WAIT

    with caplog.at_level(logging.WARNING, logger="sidecar_sync.session"):
        assert ladder.advance(100.0 + STOP_GRACE + KILL_GRACE + FINAL_WAIT) is False  # exhausted
    assert ladder.deadline() is None and step(ladder) is StopStep.SIGKILL
    assert process.signals == [signal.SIGTERM, signal.SIGKILL]  # no third signal
    assert [r.getMessage() for r in caplog.records] == [
        f"session 's1': runner (pid 4242) has not exited {FINAL_WAIT:g} s after SIGKILL; giving up waiting for it"
    ]
    assert ladder.advance(1e9) is True  # nothing due any more


def test_impolite_start_begins_at_sigterm() -> None:
    process = FakeProcess()
    ladder = ladder_for(process)
    ladder.start("runner closed its stdout", polite=False, now=10.0)
    assert (step(ladder), ladder.reason) == (StopStep.SIGTERM, "runner closed its stdout")
    assert process.signals == [signal.SIGTERM] and ladder.deadline() == 10.0 + KILL_GRACE


def test_start_is_idempotent_and_keeps_the_first_reason_and_timeline() -> None:
    process = FakeProcess()
    ladder = ladder_for(process)
    ladder.start("first", now=0.0)
    ladder.start("second", polite=False, now=1.0)
    assert (step(ladder), ladder.reason, ladder.deadline()) == (StopStep.STOP, "first", STOP_GRACE)
    assert process.signals == []


def test_start_without_now_uses_the_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr(time, "monotonic", lambda: 500.0)
    ladder = ladder_for(FakeProcess())
    ladder.start("now")
    assert ladder.deadline() == 500.0 + STOP_GRACE
    ladder.kill("now")
    assert ladder.deadline() == 500.0 + FINAL_WAIT


def test_kill_skips_to_sigkill_once_and_keeps_an_earlier_reason() -> None:
    process = FakeProcess()
    ladder = ladder_for(process)
    ladder.start("limit", now=0.0)
    ladder.kill("shutdown", now=1.0)
    assert (step(ladder), ladder.reason) == (StopStep.SIGKILL, "limit")
    assert process.signals == [signal.SIGKILL] and ladder.deadline() == 1.0 + FINAL_WAIT
    ladder.kill("again", now=2.0)  # already at SIGKILL: nothing more is sent, the timeline stays
    assert process.signals == [signal.SIGKILL] and ladder.deadline() == 1.0 + FINAL_WAIT


def test_kill_of_an_unstarted_ladder_takes_its_reason() -> None:
    process = FakeProcess()
    ladder = ladder_for(process)
    ladder.kill("shutdown", now=7.0)
    assert (step(ladder), ladder.reason, ladder.deadline()) == (StopStep.SIGKILL, "shutdown", 7.0 + FINAL_WAIT)
    assert process.signals == [signal.SIGKILL]


def test_each_signal_sent_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    ladder = ladder_for(FakeProcess())
    with caplog.at_level(logging.INFO, logger="sidecar_sync.session"):
        ladder.start("turn_timeout", polite=False, now=0.0)
        ladder.advance(KILL_GRACE)
    assert [r.getMessage() for r in caplog.records] == [
        "session 's1': sent SIGTERM to the runner's process group (turn_timeout)",
        "session 's1': sent SIGKILL to the runner's process group (turn_timeout)",
    ]


def test_a_gone_group_takes_the_step_but_logs_no_signal(caplog: pytest.LogCaptureFixture) -> None:
    process = FakeProcess(alive=False)
    ladder = ladder_for(process)
    with caplog.at_level(logging.INFO, logger="sidecar_sync.session"):
        ladder.start("x", polite=False, now=0.0)
    assert step(ladder) is StopStep.SIGTERM and process.signals == []
    assert not [r for r in caplog.records if "sent" in r.getMessage()]


def test_a_signal_without_a_reason_is_logged_as_a_stop(caplog: pytest.LogCaptureFixture) -> None:
    ladder = ladder_for(FakeProcess())
    with caplog.at_level(logging.INFO, logger="sidecar_sync.session"):
        ladder.start("", polite=False, now=0.0)
        ladder.kill("")
    assert [r.getMessage() for r in caplog.records] == [
        "session 's1': sent SIGTERM to the runner's process group (stop)",
        "session 's1': sent SIGKILL to the runner's process group (stop)",
    ]


def test_the_polite_step_is_logged_at_debug_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sidecar_sync.session"):
        ladder_for(FakeProcess()).start("idle_timeout", now=0.0)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "session 's1': stopping (idle_timeout)")
    ]
