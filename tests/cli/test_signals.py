"""``sidecar-sync run`` stopped by SIGINT, SIGTERM or SIGHUP, as real subprocesses.

Each stops the session cleanly (stop, a bounded wait, a kill), prints the final
line with the reason the API gives for the stopped turn, exits 128 + the signal
number, and leaves no runner behind.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from typing import Any

import pytest

from sidecar_sync import SidecarManager
from sidecar_sync.messages import AgentMessage
from tests._proc import catches, descendants, wait_gone
from tests.cli.conftest import TIMEOUT, popen_cli

#: (signal, exit status, how the CLI names it)
SIGNALS = [
    pytest.param(signal.SIGINT, 130, "interrupted", id="SIGINT"),
    pytest.param(signal.SIGTERM, 143, "terminated (SIGTERM)", id="SIGTERM"),
    pytest.param(signal.SIGHUP, 129, "hung up (SIGHUP)", id="SIGHUP"),
]
#: A turn that lasts long enough to be stopped: the echo runner waits before each chunk.
SLOW = ("-c", "delay=5", "-c", "chunks=10", "slow")


@pytest.fixture(scope="module")
def api_stop_reason() -> str:
    """What the API says of a slow echo turn stopped halfway: the adapter's error."""
    started = threading.Event()
    errors: list[str] = []

    def on_message(session_id: str, messages: list[AgentMessage]) -> None:
        for message in messages:
            if message.type == "init":
                started.set()
            elif message.type == "error":
                errors.append(message.content.message)

    with SidecarManager() as manager:
        manager.start_session(
            "api",
            "echo",
            "slow",
            provider_config={"delay": 5, "chunks": 10},
            on_message=on_message,
        )
        assert started.wait(TIMEOUT), "the echo turn never started"
        manager.stop_session("api")
        deadline = time.monotonic() + TIMEOUT
        while (state := manager.get_session("api")).status not in ("done", "error"):
            assert time.monotonic() < deadline, "the stopped session never ended"
            time.sleep(0.02)
    reason = state.error or (errors[-1] if errors else None)
    assert reason, "the API gave no reason for the stopped turn"
    return reason


def read_until(
    proc: subprocess.Popen[bytes], marker: bytes, timeout: float = TIMEOUT
) -> bytes:
    """Read the process's stdout until ``marker`` shows up; return what was read."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"EOF before {marker!r}: {seen!r}"
            seen += chunk
    return seen


def finish(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Wait for the process to exit (stdin left open); return the rest of its output."""
    try:
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return out, err


def start_slow_turn(
    *args: str, **kwargs: Any
) -> tuple[subprocess.Popen[bytes], bytes, set[int]]:
    """Start ``run`` on a slow turn; return it, its output, its runner's pids.

    Returns once the turn is under way.
    """
    proc = popen_cli("run", *args, *SLOW, **kwargs)
    seen = read_until(
        proc, b'"type":"init"' if "--json" in args else "● session".encode()
    )
    runners = descendants(proc.pid)
    assert runners, "the runner should be running"
    return proc, seen, runners


@pytest.mark.parametrize(("signum", "status", "name"), SIGNALS)
def test_a_signal_stops_the_session_and_prints_the_final_line(
    signum: int, status: int, name: str, api_stop_reason: str
) -> None:
    proc, seen, runners = start_slow_turn()
    proc.send_signal(signum)
    out, err = finish(proc)
    assert proc.returncode == status, err
    text = (seen + out).decode()
    final = text.rstrip("\n").splitlines()[-1]
    assert final.startswith(
        f"✗ {name}: {api_stop_reason} · $0.00 · 0 in / 0 out tokens · "
    ), text
    again = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    assert (
        err
        == f"sidecar-sync: {name}; stopping the session "
        f"({again} again to kill it now)\n".encode()
    )
    assert not wait_gone(runners, timeout=10), "the runner outlived the command"


@pytest.mark.parametrize(("signum", "status", "name"), SIGNALS)
@pytest.mark.parametrize("count", [2, 6])
def test_more_signals_still_end_cleanly(
    signum: int, status: int, name: str, count: int
) -> None:
    """Later signals hurry the stop (a kill); the exit is never death by a signal."""
    proc, _, runners = start_slow_turn("--json")
    for _ in range(count):
        proc.send_signal(signum)
    out, err = finish(proc)
    assert proc.returncode == status, err
    assert err.startswith(f"sidecar-sync: {name}; stopping the session".encode())
    assert b"Traceback" not in err
    # --json: no final line
    assert all(line.startswith(b"{") for line in out.splitlines())
    assert not wait_gone(runners, timeout=10), "the runner outlived the command"


@pytest.mark.parametrize(("signum", "status", "name"), SIGNALS)
def test_a_signal_while_reading_a_follow_up(
    signum: int, status: int, name: str
) -> None:
    """Between turns no turn has a reason: the final line names the signal only."""
    proc = popen_cli("run", "-i", "first", stdin=subprocess.PIPE)
    seen = read_until(proc, "· status: idle".encode())
    runners = descendants(proc.pid)
    proc.send_signal(signum)
    out, err = finish(proc)
    assert proc.returncode == status, err
    final = (seen + out).decode().rstrip("\n").splitlines()[-1]
    assert final.startswith(f"✗ {name} · $0.00 · 0 in / 0 out tokens · "), final
    assert b"Traceback" not in err
    assert not wait_gone(runners, timeout=10)


def test_a_signal_before_the_first_prompt() -> None:
    """Nothing started yet: the signal is named, and there is no final line."""
    proc = popen_cli("run", "-i", stdin=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT
    # until then, SIGTERM would just kill it
    while not catches(proc.pid, signal.SIGTERM):
        assert time.monotonic() < deadline and proc.poll() is None, (
            "the CLI never handled SIGTERM"
        )
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc)
    assert proc.returncode == 143
    assert out == b""
    assert err == b"sidecar-sync: terminated (SIGTERM)\n"
