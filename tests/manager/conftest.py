"""Fixtures for manager tests: managers that are always shut down, runner argv builders,
recorders for callbacks, and a leak check (no process, no thread left behind)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar_sync import AgentMessage, SidecarManager
from tests._proc import descendants, wait_gone

RUNNERS = Path(__file__).parent / "runners"
SCRIPTED = str(RUNNERS / "scripted.py")
FLOOD = str(RUNNERS / "flood.py")

#: Every blocking call in these tests waits at most this long.
TIMEOUT = 30.0


def scripted(mode: str, **args: object) -> list[str]:
    """argv of the scripted test runner in ``mode`` with ``key=value`` arguments."""
    return [sys.executable, SCRIPTED, mode, *(f"{k}={v}" for k, v in args.items())]


def flood(**args: object) -> list[str]:
    """argv of the stdout flood runner."""
    return [sys.executable, FLOOD, *(f"{k}={v}" for k, v in args.items())]


class Recorder:
    """Collects a session's callbacks (any thread) for assertions."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[AgentMessage] = []
        self.batches = 0
        self.statuses: list[tuple[str, str | None]] = []
        self.events: list[tuple[str, Any]] = []  # ("messages", n) / ("status", status), in call order
        self.final = threading.Event()
        self.threads: set[str] = set()

    def on_message(self, session_id: str, messages: list[AgentMessage]) -> None:
        with self.lock:
            self.messages.extend(messages)
            self.batches += 1
            self.events.append(("messages", len(messages)))
            self.threads.add(threading.current_thread().name)

    def on_status(self, session_id: str, status: str, error: str | None) -> None:
        with self.lock:
            self.statuses.append((status, error))
            self.events.append(("status", status))
            self.threads.add(threading.current_thread().name)
        if status in ("done", "error"):
            self.final.set()

    @property
    def texts(self) -> list[str]:
        with self.lock:
            return [m.content.text for m in self.messages if m.type == "text"]

    def of_type(self, kind: str) -> list[AgentMessage]:
        with self.lock:
            return [m for m in self.messages if m.type == kind]

    def wait_final(self, timeout: float = TIMEOUT) -> None:
        assert self.final.wait(timeout), f"no final status within {timeout} s; statuses so far: {self.statuses}"


def sidecar_threads() -> list[threading.Thread]:
    """Live threads started by sidecar_sync (sessions and timers)."""
    return [t for t in threading.enumerate() if t.name.startswith("sidecar-")]


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it leaves a child process or a sidecar thread behind."""
    before = descendants()
    yield
    leaked = wait_gone(descendants() - before, timeout=5.0)
    assert not leaked, f"processes left behind: {sorted(leaked)}"
    deadline = time.monotonic() + 5.0
    while sidecar_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not sidecar_threads(), f"threads left behind: {sidecar_threads()}"


@pytest.fixture
def make_manager(no_leaks: None) -> Iterator[Callable[..., SidecarManager]]:
    """A factory of managers with short grace periods, all shut down at teardown."""
    managers: list[SidecarManager] = []

    def make(**kwargs: Any) -> SidecarManager:
        kwargs.setdefault("stop_grace", 0.5)
        kwargs.setdefault("kill_grace", 0.5)
        manager = SidecarManager(**kwargs)
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.shutdown()


@pytest.fixture
def manager(make_manager: Callable[..., SidecarManager]) -> SidecarManager:
    """One manager with short grace periods, shut down at teardown."""
    return make_manager()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def pid_alive(pid: int) -> bool:
    from tests._proc import is_alive

    return is_alive(pid)


def rss_bytes() -> int:
    """This process's resident set size now."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
