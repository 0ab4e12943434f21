"""Concurrency: many sessions at once, many threads at one manager, exactly-once in-order delivery."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable

import pytest

from sidecar_sync import (
    RunnerGoneError,
    SessionExistsError,
    SessionNotActiveError,
    SessionNotFoundError,
    SidecarManager,
    WaitTimeoutError,
)
from tests.manager.conftest import TIMEOUT, scripted


class OrderCheck:
    """Checks, as messages arrive, that a session's texts come exactly once, in order.

    Texts are ``<turn>:<i>``; within a turn ``i`` counts up from 0 without gaps, and
    turns only go forward. Keeps counts, not messages.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.turn = 0
        self.next = 0
        self.texts = 0
        self.errors: list[str] = []

    def on_message(self, session_id: str, messages: list) -> None:
        with self.lock:
            for message in messages:
                if message.type != "text":
                    continue
                turn, index = map(int, message.content.text.split(":"))
                if turn != self.turn:
                    if turn < self.turn or index != 0:
                        self.errors.append(f"{session_id}: {turn}:{index} after {self.turn}:{self.next - 1}")
                    self.turn, self.next = turn, 0
                if index != self.next:
                    self.errors.append(f"{session_id}: expected {turn}:{self.next}, got {turn}:{index}")
                self.next = index + 1
                self.texts += 1


@pytest.mark.slow
def test_hundred_concurrent_sessions_deliver_exactly_once_in_order(
    make_manager: Callable[..., SidecarManager],
) -> None:
    sessions, count = 100, 3000
    manager = make_manager()
    manager.register_provider("good", scripted("good", count=count, exit_after=1))
    checks = {f"s{i}": OrderCheck() for i in range(sessions)}
    barrier = threading.Barrier(10)
    failures: list[BaseException] = []

    def starter(ids: list[str]) -> None:
        try:
            barrier.wait(TIMEOUT)
            for session_id in ids:
                manager.start_session(session_id, "good", "go", on_message=checks[session_id].on_message)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    ids = list(checks)
    threads = [threading.Thread(target=starter, args=(ids[i::10],), name=f"test-starter-{i}") for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not failures and not any(t.is_alive() for t in threads)
    for session_id in ids:
        assert manager.wait(session_id, TIMEOUT * 2, until="final").finished, session_id
    for session_id, check in checks.items():
        state = manager.get_session(session_id)
        assert state.status == "done", (session_id, state.error)
        assert not check.errors, check.errors[:5]
        assert check.texts == count, (session_id, check.texts)
        assert state.messages == count + 1


ALLOWED = (SessionExistsError, SessionNotFoundError, SessionNotActiveError, RunnerGoneError, WaitTimeoutError)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeded_stress_many_threads_one_manager(make_manager: Callable[..., SidecarManager], seed: int) -> None:
    """Threads start, prompt, stop, remove, wait and list over a few shared ids at random.

    Only the expected errors of each call may happen; nothing deadlocks; every
    session's messages arrive exactly once and in order (a stopped or removed
    session may end early, never with a gap); no process or thread is left (the
    fixture checks).
    """
    manager = make_manager(stop_grace=0.3, kill_grace=0.3, cleanup_grace=0.5)
    manager.register_provider("good", scripted("good", count=500))
    manager.register_provider("slow", scripted("good", count=20, delay=0.002))
    manager.register_provider("stubborn", scripted("stubborn", term="ignore"))
    ids = [f"id{i}" for i in range(6)]
    checks_lock = threading.Lock()
    checks: list[OrderCheck] = []
    unexpected: list[BaseException] = []
    barrier = threading.Barrier(8)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)

    def worker(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        try:
            barrier.wait(TIMEOUT)
            for _ in range(100):
                session_id = rng.choice(ids)
                op = rng.choices(
                    ["start", "prompt", "stop", "remove", "wait", "get", "list", "iter"],
                    weights=[6, 4, 2, 2, 2, 1, 1, 1],
                )[0]
                try:
                    if op == "start":
                        check = OrderCheck()
                        provider = rng.choices(["good", "slow", "stubborn"], weights=[5, 3, 1])[0]
                        manager.start_session(session_id, provider, "go", on_message=check.on_message)
                        with checks_lock:
                            checks.append(check)
                    elif op == "prompt":
                        manager.write_prompt(session_id, "more")
                    elif op == "stop":
                        manager.stop_session(session_id)
                    elif op == "remove":
                        manager.remove_session(session_id)
                    elif op == "wait":
                        manager.wait(session_id, timeout=0.05)
                    elif op == "get":
                        manager.get_session(session_id)
                    elif op == "list":
                        manager.list_sessions()
                    else:
                        with manager.iter_messages(session_id, timeout=0.05) as iterator:
                            for _ in zip(range(5), iterator, strict=False):
                                pass
                except ALLOWED:
                    pass
        except BaseException as exc:  # noqa: BLE001
            unexpected.append(exc)

    try:
        threads = [threading.Thread(target=worker, args=(n,), name=f"test-worker-{n}") for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT * 2)
        assert not any(t.is_alive() for t in threads), "a worker deadlocked"
    finally:
        sys.setswitchinterval(old_interval)
    assert not unexpected, unexpected[:3]
    started = time.monotonic()
    manager.shutdown()
    assert time.monotonic() - started < TIMEOUT
    assert all(not check.errors for check in checks), [c.errors[:3] for c in checks if c.errors]
    assert checks, "no session was ever started"
    print(f"sessions started: {len(checks)}, texts: {sum(c.texts for c in checks)}")


@pytest.mark.slow
def test_two_hundred_sessions_under_chaos_lose_nothing(make_manager: Callable[..., SidecarManager]) -> None:
    """200 sessions at once while chaos threads stop, remove, prompt, wait and list at random.

    A session the chaos left alone delivers every message of every turn it was sent,
    exactly once and in order; one it stopped or removed may end early, never with a
    gap; only the documented errors happen; shutdown is bounded; no process or thread
    is left (the fixture checks).
    """
    sessions, count = 200, 200
    manager = make_manager(stop_grace=0.3, kill_grace=0.3)
    manager.register_provider("good", scripted("good", count=count))
    checks = {f"c{i}": OrderCheck() for i in range(sessions)}
    touched: set[str] = set()
    prompts: dict[str, int] = dict.fromkeys(checks, 1)
    lock = threading.Lock()
    unexpected: list[BaseException] = []
    started = threading.Event()

    def starter(ids: list[str]) -> None:
        try:
            for session_id in ids:
                manager.start_session(session_id, "good", "go", on_message=checks[session_id].on_message)
        except BaseException as exc:  # noqa: BLE001 - reported below
            unexpected.append(exc)

    def chaos(seed: int) -> None:
        rng = random.Random(seed)
        started.wait(TIMEOUT)
        try:
            for _ in range(80):
                session_id = rng.choice(list(checks))
                op = rng.choice(["stop", "remove", "prompt", "wait", "list", "get"])
                try:
                    if op in ("stop", "remove"):
                        with lock:
                            touched.add(session_id)
                        (manager.stop_session if op == "stop" else manager.remove_session)(session_id)
                    elif op == "prompt":
                        with lock:  # counted first: a prompt may be answered before the call returns
                            prompts[session_id] += 1
                        try:
                            manager.write_prompt(session_id, "more")
                        except BaseException:
                            with lock:
                                prompts[session_id] -= 1
                            raise
                    elif op == "wait":
                        manager.wait(session_id, timeout=0.01)
                    elif op == "list":
                        manager.list_sessions()
                    else:
                        manager.get_session(session_id)
                except ALLOWED:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            unexpected.append(exc)

    ids = list(checks)
    threads = [threading.Thread(target=starter, args=(ids[i::10],), name=f"test-starter-{i}") for i in range(10)]
    threads += [threading.Thread(target=chaos, args=(n,), name=f"test-chaos-{n}") for n in range(6)]
    for thread in threads:
        thread.start()
    started.set()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(t.is_alive() for t in threads), "a thread deadlocked"
    assert not unexpected, unexpected[:3]
    for session_id in ids:
        if session_id not in touched:
            assert manager.wait(session_id, TIMEOUT * 2).status == "idle", session_id
    begun = time.monotonic()
    manager.shutdown()
    assert time.monotonic() - begun < TIMEOUT
    for session_id, check in checks.items():
        assert not check.errors, (session_id, check.errors[:3])
        if session_id not in touched:
            assert check.texts == count * prompts[session_id], (session_id, check.texts, prompts[session_id])
    assert len(touched) < sessions  # most sessions ran undisturbed
