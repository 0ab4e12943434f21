"""Process helpers for tests: find and reap what a test started, via /proc."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after the last ')'
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int | None = None) -> set[int]:
    """Pids of every live process below ``root`` (default: this process)."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _ppid(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: set[int] | list[int], timeout: float = 10.0) -> set[int]:
    """Wait until none of ``pids`` is alive; return the ones still alive at the deadline."""
    deadline = time.monotonic() + timeout
    alive = {p for p in pids if is_alive(p)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = {p for p in alive if is_alive(p)}
    return alive


def _signal_mask(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    return int(fields[field], 16)


def catches(pid: int, signum: int) -> bool:
    """True when the process handles ``signum`` (``SigCgt`` in ``/proc/PID/status``)."""
    mask = _signal_mask(pid, "SigCgt")
    return mask is not None and bool(mask >> (signum - 1) & 1)


def ignores(pid: int, signum: int) -> bool:
    """True when the process ignores ``signum`` (``SigIgn`` in ``/proc/PID/status``)."""
    mask = _signal_mask(pid, "SigIgn")
    return mask is not None and bool(mask >> (signum - 1) & 1)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` if it does not by ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not seen within {timeout} s"
        time.sleep(0.01)
