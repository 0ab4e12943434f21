"""Process trees from ``/proc``: who descends from whom, identified safely.

A process is identified by its pid *and* its start time, so a pid the kernel has
recycled since the snapshot is never signalled. Used by the manager's stop ladder
and by the CLI runners, whose children (Codex's shell commands, for instance) may
sit in process groups of their own, out of reach of a group kill.
"""

from __future__ import annotations

import os
import signal


def process_stat(pid: int) -> tuple[int, int] | None:
    """``(ppid, start time)`` of a live process, or None (gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live process below ``root``, as ``{pid: start time}``; empty without ``/proc``."""
    children: dict[int, list[tuple[int, int]]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    for entry in entries:
        if entry.isdigit():
            info = process_stat(int(entry))
            if info is not None:
                children.setdefault(info[0], []).append((int(entry), info[1]))
    found: dict[int, int] = {}
    stack = [root]
    while stack:
        for pid, start in children.get(stack.pop(), ()):
            if pid not in found:
                found[pid] = start
                stack.append(pid)
    return found


def still_alive(known: dict[int, int]) -> list[int]:
    """The pids of ``known`` that are alive and still the same processes."""
    alive = []
    for pid, start in known.items():
        info = process_stat(pid)
        if info is not None and info[1] == start:
            alive.append(pid)
    return alive


def kill_known(known: dict[int, int]) -> list[int]:
    """SIGKILL every process of ``known`` that is still the same process; return their pids."""
    killed = []
    for pid in still_alive(known):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
        killed.append(pid)
    return killed


def pipe_holders(inode: int) -> dict[int, int]:
    """The live processes (``{pid: start time}``) other than this one that hold pipe
    ``inode`` open for writing: the ones that keep its reader from end of file.

    Found through ``/proc/<pid>/fd``; empty without ``/proc``. A process that
    inherited a runner's stdout and moved out of its process group (a ``setsid``
    daemon) can only be found this way. Holders of the read end are left out: a
    child this process is forking holds every pipe's read end until it execs, and
    must not be taken for the runner's leftover.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    target = f"pipe:[{inode}]"
    me = os.getpid()
    found: dict[int, int] = {}
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            links = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for link in links:
            try:
                if os.readlink(f"/proc/{pid}/fd/{link}") == target and _open_for_writing(pid, link):
                    info = process_stat(pid)
                    if info is not None:
                        found[pid] = info[1]
                    break
            except OSError:
                continue
    return found


def _open_for_writing(pid: int, fd: str) -> bool:
    """True if ``/proc/<pid>/fdinfo/<fd>`` says the fd may write (or cannot be read)."""
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    except (OSError, ValueError, IndexError):
        pass
    return True


def command_line(pid: int) -> str:
    """A process's command line for log messages ('?' if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read(512)
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip() or "?"
