"""``run`` against an in-process fake manager: endings real runners cannot reach."""

from __future__ import annotations

import argparse
import io
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from sidecar_sync import SessionState, WaitTimeoutError
from sidecar_sync.cli import _run, build_parser
from sidecar_sync.cli._exit import UsageError
from sidecar_sync.cli._signals import Signals
from sidecar_sync.errors import SessionNotActiveError
from sidecar_sync.messages import AgentMessage, CostContent, ErrorContent

STATE = SessionState(
    session_id="s",
    provider="fake",
    status="running",
    cost_usd=0.0,
    input_tokens=3,
    output_tokens=4,
    started_at=0.0,
    ended_at=None,
    exit_code=None,
    error=None,
    pid=None,
    messages=0,
    invalid_lines=0,
    dropped_lines=0,
    dropped_messages=0,
)


class FakeManager:
    """Turns end at once; ``stop_session`` ends the session unless ``stubborn``."""

    def __init__(
        self,
        *,
        stubborn: bool = False,
        refuse_prompts: bool = False,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.state = STATE
        self.on_start = on_start
        self.stubborn = stubborn
        self.refuse_prompts = refuse_prompts
        self.calls: list[str] = []
        self.on_message: Any = None

    def start_session(
        self, session_id: str, provider: str, prompt: str, **options: Any
    ) -> SessionState:
        self.calls.append("start")
        self.on_message = options["on_message"]
        self.state = replace(self.state, session_id=session_id)
        if self.on_start is not None:
            self.on_start()
        return self.state

    def wait(self, session_id: str, timeout: float | None = None, *, until: str = "turn") -> SessionState:
        if until == "final":
            if self.state.ended_at is None:
                time.sleep(timeout or 0.0)
                raise WaitTimeoutError(f"session {session_id!r} is not final")
            return self.state
        self.state = replace(self.state, status="idle")
        return self.state

    def write_prompt(self, session_id: str, prompt: str) -> None:
        self.calls.append("write")
        if self.refuse_prompts:
            raise SessionNotActiveError(
                session_id, "error", "runner exited with code 3"
            )

    def stop_session(self, session_id: str) -> None:
        self.calls.append("stop")
        if not self.stubborn:
            self.state = replace(self.state, status="done", exit_code=0, ended_at=1.0)

    def get_session(self, session_id: str) -> SessionState:
        return self.state

    def remove_session(self, session_id: str) -> None:
        self.calls.append("remove")


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """Give the command ``data`` as its stdin.

    Set inside the test: pytest resets the sys streams before it starts.
    """
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    )


def run(manager: FakeManager, signals: Signals, *argv: str) -> int:
    args = build_parser().parse_args(["run", *argv])
    args.verbose += args.verbose_after
    return _run._Run(args, {}, manager, signals).execute(args.prompt)  # type: ignore[arg-type]  # a duck-typed fake


def test_a_prompt_the_session_refuses_stops_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, b"second\n")
    manager = FakeManager(refuse_prompts=True)
    assert run(manager, Signals(), "-i", "first") == 1
    out, err = capsys.readouterr()
    session = manager.state.session_id
    reason = (
        f"cannot send the prompt: session {session!r} is error: "
        "runner exited with code 3"
    )
    assert err == f"sidecar-sync: {reason}\n"
    assert out.splitlines()[-1].startswith(
        f"✗ stopped: {reason} · $- · 3 in / 4 out tokens · "
    )
    assert manager.calls == ["start", "write", "stop"]


def test_a_session_that_ignores_stop_is_killed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the bounded wait the runner is killed, and the final line says so."""
    monkeypatch.setattr(_run, "STOP_WAIT", 0.0)
    signals = Signals()
    manager = FakeManager(
        stubborn=True, on_start=lambda: signals._handle(signal.SIGTERM, None)
    )
    assert run(manager, signals, "x") == 143
    assert manager.calls == ["start", "stop", "remove"]
    out, err = capsys.readouterr()
    assert (
        err == "sidecar-sync: terminated (SIGTERM); stopping the session "
        "(SIGTERM again to kill it now)\n"
    )
    assert out.splitlines()[-1].startswith(
        "✗ terminated (SIGTERM), runner killed · $- · 3 in / 4 out tokens · "
    )


def test_the_turn_reason_is_the_apis() -> None:
    """The session's error; else the error message of a turn whose cost says failed."""
    turn = _run._Turn()
    assert turn.failure(STATE) is None
    turn.record(
        [AgentMessage("1", "error", ErrorContent("Reconnecting... 1/5"), None, 0)]
    )
    assert turn.failure(STATE) is None  # an error message alone is not a failed turn
    turn.record([AgentMessage("2", "cost", CostContent(is_error=True), None, 0)])
    assert turn.failure(STATE) == "Reconnecting... 1/5"
    turn.record(
        [
            AgentMessage(
                "3", "error", ErrorContent("turn failed (aborted_streaming)"), None, 0
            )
        ]
    )
    assert turn.failure(STATE) == "turn failed (aborted_streaming)"
    assert turn.failure(replace(STATE, error="runner says no")) == "runner says no"
    turn.reset()
    assert turn.failure(STATE) is None
    assert not turn.cost_known  # no cost message carried a price


def test_signals_restore_the_old_handlers_unless_one_came() -> None:
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {signum: signal.getsignal(signum) for signum in handled}
    try:
        with Signals():
            assert all(
                signal.getsignal(signum) is not before[signum] for signum in handled
            )
        assert all(signal.getsignal(signum) is before[signum] for signum in handled)
        with Signals() as signals:
            signals._handle(signal.SIGHUP, None)
        # on the way out with its status: no death by a late signal
        assert all(signal.getsignal(signum) is signal.SIG_IGN for signum in handled)
        assert (
            signals.exit_status == 129
            and signals.name == "hung up (SIGHUP)"
            and signals.again == "SIGHUP"
        )
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_an_ignored_signal_stays_ignored() -> None:
    """``nohup`` and background jobs start with SIGHUP/SIGINT ignored; it stays so."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with Signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_run_command_checks_before_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    args = argparse.Namespace(
        **vars(build_parser().parse_args(["run", "--max-turns", "0", "x"]))
    )
    with pytest.raises(UsageError, match="--max-turns must be at least 1"):
        _run.run_command(args)
